import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/** A line a process printed that carries an `event` (see test/multiprocess/node.ts). */
export interface ProcessEvent {
  event: string
  pid: number
  [field: string]: unknown
}

const NODE_SCRIPT = new URL('./node.ts', import.meta.url).pathname

/** One `node test/multiprocess/node.ts <role>` process, its events collected as they are printed. */
export class NodeProcess {
  readonly role: 'api' | 'worker'
  readonly child: ChildProcess
  readonly events: ProcessEvent[] = []
  readonly exited: Promise<number | null>
  readonly #waiters = new Set<() => void>()
  #stderr = ''

  constructor(role: 'api' | 'worker', env: Record<string, string>) {
    this.role = role
    this.child = spawn(process.execPath, [NODE_SCRIPT, role], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return
      const parsed = JSON.parse(line) as Partial<ProcessEvent>
      if (typeof parsed.event !== 'string') return
      this.events.push(parsed as ProcessEvent)
      for (const wake of this.#waiters) wake()
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000)
    })
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  get pid(): number {
    return this.child.pid!
  }

  /** Resolves with the first event (already seen or coming) that matches; rejects after `timeoutMs` or if the process exits. */
  waitFor(match: (e: ProcessEvent) => boolean, what: string, timeoutMs = 20_000): Promise<ProcessEvent> {
    const seen = this.events.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      const check = () => {
        const e = this.events.find(match)
        if (e) {
          done()
          resolve(e)
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(
          new Error(
            `${this.role} ${this.pid}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.#stderr}`,
          ),
        )
      }, timeoutMs)
      this.#waiters.add(check)
      void this.exited.then((code) => {
        if (!this.#waiters.has(check)) return
        done()
        reject(
          new Error(`${this.role} ${this.pid} exited (${code}) while waiting for ${what}\n${this.#stderr}`),
        )
      })
    })
  }

  /** SIGTERM, then SIGKILL if it has not exited within 5 s. Resolves when it is gone. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await this.exited
    clearTimeout(timer)
  }
}

/** Resolves when `check` holds, re-checked every time any of `processes` prints an event. */
export async function whenAll(
  processes: readonly NodeProcess[],
  check: () => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    // The next event from any process (or the deadline) wakes us to check again.
    const live = processes.filter((p) => p.alive)
    if (live.length === 0) throw new Error(`every process exited while waiting for ${what}`)
    const counts = live.map((p) => p.events.length)
    await Promise.race(
      live.map((p, i) => p.waitFor(() => p.events.length > counts[i]!, what, left).catch(() => undefined)),
    )
  }
}
