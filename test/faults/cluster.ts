import { type ChildProcess, fork } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { Backend } from './backends.ts'
import type { FaultEvent } from './events.ts'

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url))

export interface WorkerSettings {
  backend: Backend
  events: string
  prefix: string
  leaseMs: number
  concurrency: number
  prefetch?: number
  jobTimeoutMs: number
  graceMs: number
  /** SQS endpoint the processes talk to (the proxy, when the scenario cuts the network). */
  endpoint?: string
  /** Pub/Sub emulator host:port the processes talk to. */
  pubsubHost?: string
}

export interface Proc {
  child: ChildProcess
  pid: number
  exited: Promise<number | null>
  /** Epoch ms it exited; undefined while it runs. */
  exitedAt?: number
}

export interface SendResult {
  key: string
  ok: boolean
  ms: number
  error?: string
  /** For a POST /v1/jobs: the status and Retry-After header. */
  status?: number
  retryAfter?: string
}

/**
 * The worker processes of one scenario, and what they report: every event arrives here over IPC (and
 * in the shared file), so the harness waits on events rather than sleeping.
 */
export class Cluster {
  readonly settings: WorkerSettings
  readonly live = new EventEmitter()
  readonly procs = new Set<Proc>()
  /** pid → runs started and not yet ended, as reported over IPC. */
  readonly running = new Map<number, Set<string>>()
  readonly endedKeys = new Set<string>()
  readonly deadLetteredIds = new Set<string>()
  readonly deaths = new Map<number, number>()

  constructor(settings: WorkerSettings) {
    this.settings = settings
    this.live.setMaxListeners(100)
  }

  /** Takes an event from a process (or from an in-process worker on the memory queue). */
  record(event: FaultEvent): void {
    const set = this.running.get(event.pid) ?? new Set<string>()
    this.running.set(event.pid, set)
    if (event.e === 'start') set.add(event.run!)
    else if (event.run) set.delete(event.run)
    if (event.e === 'end') this.endedKeys.add(event.key!)
    if (event.e === 'dead_letter') this.deadLetteredIds.add(event.id)
    this.live.emit('event', event)
  }

  inFlight(pid: number): number {
    return this.running.get(pid)?.size ?? 0
  }

  /** Resolves when `condition` holds, re-checking on every event; rejects after `timeoutMs`. */
  until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (condition()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return
        cleanup()
        resolve()
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        this.live.off('event', check)
        this.live.off('exit', check)
      }
      this.live.on('event', check)
      this.live.on('exit', check)
    })
  }

  /** Starts a worker process; resolves once it consumes. */
  spawnWorker(): Promise<Proc> {
    return this.#spawn('worker')
  }

  /** Starts an enqueue probe process (it sends when told and reports how the send went). */
  spawnProbe(): Promise<Proc> {
    return this.#spawn('probe')
  }

  /**
   * Asks a probe to enqueue one job, through the queue (`send`) or POST /v1/jobs (`post`); resolves
   * with how it ended, whenever it ends.
   */
  probeSend(proc: Proc, key: string, how: 'send' | 'post' = 'send'): Promise<SendResult> {
    return new Promise((resolve) => {
      const onMessage = (m: { kind: string } & SendResult) => {
        if (m.kind !== (how === 'send' ? 'sent' : 'posted') || m.key !== key) return
        proc.child.off('message', onMessage)
        resolve(m)
      }
      proc.child.on('message', onMessage)
      proc.child.send({ kind: how, key })
    })
  }

  failExtensions(on: boolean): void {
    for (const p of this.procs)
      if (p.exitedAt === undefined && p.child.connected) p.child.send({ kind: 'fail-extensions', on })
  }

  /** Sends `signal` and waits for the process to exit; resolves to the time the signal was sent. */
  async signal(proc: Proc, signal: NodeJS.Signals): Promise<number> {
    const at = Date.now()
    proc.child.kill(signal)
    await proc.exited
    return at
  }

  /** Stops every process still running (SIGTERM, then SIGKILL after `graceMs`) and waits for them. */
  async stopAll(graceMs = 30_000): Promise<void> {
    await Promise.all(
      [...this.procs].map(async (p) => {
        if (p.exitedAt !== undefined) return
        const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs)
        p.child.kill('SIGTERM')
        await p.exited
        clearTimeout(timer)
      }),
    )
  }

  #spawn(role: 'worker' | 'probe'): Promise<Proc> {
    const s = this.settings
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      FAULT_ROLE: role,
      FAULT_BACKEND: s.backend,
      FAULT_EVENTS: s.events,
      FAULT_PREFIX: s.prefix,
      FAULT_LEASE_MS: String(s.leaseMs),
      FAULT_CONCURRENCY: String(s.concurrency),
      FAULT_JOB_TIMEOUT_MS: String(s.jobTimeoutMs),
      FAULT_GRACE_MS: String(s.graceMs),
      ...(s.prefetch ? { FAULT_PREFETCH: String(s.prefetch) } : {}),
      ...(s.endpoint ? { FAULT_ENDPOINT: s.endpoint } : {}),
      ...(s.pubsubHost ? { PUBSUB_EMULATOR_HOST: s.pubsubHost } : {}),
    }
    // execArgv: none of the test runner's flags (coverage, inspector) are passed on to the workers.
    const child = fork(WORKER_SCRIPT, [], {
      env,
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    let exitedAt: number | undefined
    const proc: Proc = {
      child,
      pid: child.pid!,
      exited: new Promise((resolve) =>
        child.once('exit', (code) => {
          exitedAt = Date.now()
          proc.exitedAt = exitedAt
          this.deaths.set(proc.pid, exitedAt)
          this.live.emit('exit', proc)
          resolve(code)
        }),
      ),
    }
    this.procs.add(proc)
    child.on('message', (m: { kind: string; event?: FaultEvent }) => {
      if (m.kind === 'event') this.record(m.event!)
    })
    return new Promise((resolve, reject) => {
      const onReady = (m: { kind: string }) => {
        if (m.kind !== 'ready') return
        child.off('message', onReady)
        resolve(proc)
      }
      child.on('message', onReady)
      void proc.exited.then((code) =>
        reject(new Error(`${role} process exited with ${code} before it was ready`)),
      )
    })
  }
}
