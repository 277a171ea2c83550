import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import type { PubSubQueue } from '../../adapters/pubsub/index.ts'
import { createEnvelope, type Envelope } from '../../src/envelope.ts'
import { canSendRaw, type Queue } from '../../src/queue.ts'
import { Worker } from '../../src/worker.ts'
import { type OutageProxy, startOutageProxy } from '../support/emulators.ts'
import { analyze, type Fault, type FaultFigures } from './analyze.ts'
import { type Backend, instrumentQueue, makeQueue } from './backends.ts'
import type { Brokers } from './brokers.ts'
import { Cluster, type Proc, type SendResult, type WorkerSettings } from './cluster.ts'
import { fileSink, readEvents, settledEvent } from './events.ts'
import { FAULT_JOB, FAULT_QUEUE, faultJob } from './jobs.ts'
import { type Params, params, type Scale, type ScenarioName } from './params.ts'

export { Brokers } from './brokers.ts'
export { SCENARIOS, type Scale, type ScenarioName } from './params.ts'

/** The line each scenario prints. */
export interface ScenarioResult extends FaultFigures {
  scenario: ScenarioName
  backend: Backend
  /** How long a send made during a broker fault took to reject; null if it did not reject. */
  enqueueErrorMs: number | null
  /** How that send ended: `rejected`, `resolved` (held until the broker came back) or `pending`. */
  enqueue?: 'rejected' | 'resolved' | 'pending'
  enqueueMs?: number
  /** POST /v1/jobs made during the broker fault: its status (null while pending), Retry-After and time. */
  apiStatus?: number | null
  apiRetryAfter?: string
  apiMs?: number
  scale: Scale
  durationMs: number
  /** Set when the jobs were not all done within the scenario's budget. */
  timedOut?: string
}

/** FAULTS_TRACE=1: the harness's steps, timed, on stderr. */
const trace = (what: string) => {
  if (process.env.FAULTS_TRACE) process.stderr.write(`${new Date().toISOString()} ${what}\n`)
}

const log = pino({ level: process.env.FAULT_LOG_LEVEL ?? 'silent' }, pino.destination(2))

/** Runs one scenario on one backend and returns its figures (the JSON line). */
export async function runScenario(
  scenario: ScenarioName,
  backend: Backend,
  scale: Scale,
  brokers: Brokers,
): Promise<ScenarioResult> {
  const p = params(scenario, backend, scale)
  const began = Date.now()
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-faults-'))
  const events = join(dir, 'events.jsonl')
  const prefix = `f${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}-`
  let proxy: OutageProxy | undefined
  if (backend !== 'memory') {
    const port = await brokers.port(backend)
    if (p.throughProxy) proxy = await startOutageProxy(port)
  }
  const settings: WorkerSettings = {
    backend,
    events,
    prefix,
    leaseMs: p.leaseMs,
    concurrency: p.concurrency,
    ...(p.prefetch ? { prefetch: p.prefetch } : {}),
    jobTimeoutMs: p.jobTimeoutMs ?? Math.max(30_000, 4 * p.jobMs),
    graceMs: p.graceMs ?? 30_000,
    ...(backend === 'sqs'
      ? { endpoint: proxy ? proxy.endpoint : (await brokers.fauxqs()).endpoint }
      : backend === 'pubsub'
        ? { pubsubHost: proxy ? `127.0.0.1:${proxy.port}` : (await brokers.pubsub()).host }
        : {}),
  }
  const cluster = new Cluster(settings)
  const direct = makeQueue({
    backend,
    ...(backend === 'sqs' ? { endpoint: (await brokers.fauxqs()).endpoint } : {}),
    prefix,
    leaseMs: p.leaseMs,
    logger: log,
  })
  const run = new Run(scenario, backend, p, cluster, direct, events)
  try {
    await run.execute(proxy)
    trace('jobs done; stopping workers')
    await run.stop()
    trace('workers stopped; draining')
    await run.drain()
    trace('drained')
    const figures = analyze({
      events: readEvents(events),
      good: run.good,
      poison: run.poison,
      rawPoison: run.rawPoison,
      deaths: cluster.deaths,
      faults: run.faults,
      leftover: run.leftover,
      endedAt: run.endedAt,
    })
    const probe = run.probeResult
    const api = run.apiResult
    return {
      scenario,
      backend,
      ...figures,
      enqueueErrorMs: probe && !probe.ok ? Math.round(probe.ms) : null,
      ...(p.throughProxy
        ? {
            enqueue: probe ? (probe.ok ? 'resolved' : 'rejected') : 'pending',
            ...(probe ? { enqueueMs: Math.round(probe.ms) } : {}),
            apiStatus: api?.status ?? null,
            ...(api?.retryAfter ? { apiRetryAfter: api.retryAfter } : {}),
            ...(api ? { apiMs: Math.round(api.ms) } : {}),
          }
        : {}),
      scale,
      durationMs: Date.now() - began,
      ...(run.timedOut ? { timedOut: run.timedOut } : {}),
    }
  } finally {
    trace('cleaning up')
    await run.stop()
    // FAULTS_KEEP=<dir>: the event file is kept there as <scenario>-<backend>.jsonl (for looking into a run).
    const keep = process.env.FAULTS_KEEP
    if (keep)
      await mkdir(keep, { recursive: true })
        .then(() => copyFile(events, join(keep, `${scenario}-${backend}.jsonl`)))
        .catch((err: Error) => {
          process.stderr.write(`FAULTS_KEEP: could not keep the event file: ${err.message}\n`)
        })
    await proxy?.stop()
    await direct.close()
    await rm(dir, { recursive: true, force: true })
    trace('cleaned up')
  }
}

/** One scenario run: seeds the jobs, starts the workers, causes the fault, waits for the jobs. */
class Run {
  readonly good = new Map<string, string>()
  readonly poison = new Set<string>()
  rawPoison = 0
  readonly faults: Fault[] = []
  /** Keys of messages still in the queue after every job was done and the workers stopped. */
  readonly leftover: string[] = []
  endedAt = 0
  probeResult: SendResult | undefined
  apiResult: SendResult | undefined
  timedOut: string | undefined
  readonly #scenario: ScenarioName
  readonly #backend: Backend
  readonly #p: Params
  readonly #cluster: Cluster
  readonly #direct: Queue
  readonly #events: string
  readonly #inProcess: Worker[] = []
  #failing = false

  constructor(
    scenario: ScenarioName,
    backend: Backend,
    p: Params,
    cluster: Cluster,
    direct: Queue,
    events: string,
  ) {
    this.#scenario = scenario
    this.#backend = backend
    this.#p = p
    this.#cluster = cluster
    this.#direct = direct
    this.#events = events
  }

  async execute(proxy: OutageProxy | undefined): Promise<void> {
    if (this.#backend === 'pubsub') await (this.#direct as PubSubQueue).ensureQueue(FAULT_QUEUE)
    await this.#seed(this.#p.jobs, this.#p.jobMs)
    if (this.#scenario === 'poison') await this.#seedPoison()
    trace(`${this.#scenario} ${this.#backend}: seeded`)
    // The enqueue probe is up before the workers start: started later, a slow spawn could let nearly
    // every job finish before the fault begins.
    const probe = proxy && this.#p.throughProxy ? await this.#warmProbe() : undefined
    const workers = [await this.#startWorker(), await this.#startWorker()]
    trace('workers ready')
    switch (this.#scenario) {
      case 'sigkill':
        for (let i = 0; i < 3; i++) {
          const target = workers[i % 2]!
          await this.#busy(target.pid, 2)
          const at = await this.#cluster.signal(target, 'SIGKILL')
          this.faults.push({ kind: 'kill', start: at, end: target.exitedAt!, pid: target.pid })
          workers[i % 2] = await this.#startWorker()
        }
        break
      case 'sigterm': {
        const target = workers[0]!
        await this.#busy(target.pid, 2)
        const at = await this.#cluster.signal(target, 'SIGTERM')
        this.faults.push({ kind: 'term', start: at, end: target.exitedAt!, pid: target.pid })
        workers[0] = await this.#startWorker()
        break
      }
      case 'broker-cut':
      case 'broker-stall':
        await this.#brokerFault(proxy!, probe!)
        break
      case 'long-jobs':
      case 'poison':
        break
      case 'failing-extensions': {
        await this.#cluster.until(() => this.#totalInFlight() >= 2, 'two runs in flight', 60_000)
        const start = Date.now()
        this.#setFailing(true)
        await sleep(this.#p.faultMs!)
        this.#setFailing(false)
        this.faults.push({ kind: 'extensions', start, end: Date.now() })
        break
      }
    }
    await this.#waitDone()
  }

  /** Workers of this scenario: processes, or on the memory queue Workers in this process. */
  async #startWorker(): Promise<Proc> {
    if (this.#backend !== 'memory') return this.#cluster.spawnWorker()
    const sink = fileSink(this.#events, false)
    const job = faultJob(
      (e) => {
        sink(e)
        this.#cluster.record(e)
      },
      { timeoutMs: this.#cluster.settings.jobTimeoutMs },
    )
    const worker = new Worker({
      queue: instrumentQueue(this.#direct, {
        failing: () => this.#failing,
        settled: (delivery, how) => {
          const e = settledEvent(delivery, how)
          if (!e) return
          sink(e)
          this.#cluster.record(e)
        },
      }),
      jobs: [job],
      logger: log,
      concurrency: this.#p.concurrency,
      leaseMs: this.#p.leaseMs,
    })
    worker.onOutcome((o) => {
      if (o.outcome !== 'dead_letter') return
      const e = { e: 'dead_letter' as const, id: o.id, pid: process.pid, attempt: o.attempt, t: Date.now() }
      sink(e)
      this.#cluster.record(e)
    })
    this.#inProcess.push(worker.start())
    return { pid: process.pid } as Proc
  }

  #setFailing(on: boolean): void {
    this.#failing = on
    this.#cluster.failExtensions(on)
  }

  #totalInFlight(): number {
    let n = 0
    for (const set of this.#cluster.running.values()) n += set.size
    return n
  }

  /** Waits until `pid` runs at least `n` jobs (it is killed mid-work), or 60 s. */
  async #busy(pid: number, n: number): Promise<void> {
    await this.#cluster.until(() => this.#cluster.inFlight(pid) >= n, `${n} runs in flight on ${pid}`, 60_000)
  }

  /** Starts the enqueue probe and sends one job through it (connections open, resources known). */
  async #warmProbe(): Promise<Proc> {
    const probe = await this.#cluster.spawnProbe()
    const warm = await this.#cluster.probeSend(probe, 'probe-warm')
    if (!warm.ok) throw new Error(`the enqueue probe could not send before the fault: ${warm.error}`)
    // Its id is not known here; the key is enough (the job is counted by key).
    this.good.set('probe-warm', 'probe-warm')
    return probe
  }

  async #brokerFault(proxy: OutageProxy, probe: Proc): Promise<void> {
    await this.#cluster.until(
      () => this.#cluster.endedKeys.size >= 30,
      '30 jobs done before the fault',
      60_000,
    )
    const start = Date.now()
    if (this.#scenario === 'broker-cut') await proxy.cut()
    else await proxy.stall()
    const sent = this.#cluster.probeSend(probe, 'probe-fault').then((r) => {
      this.probeResult = r
      if (r.ok) this.good.set('probe-fault', 'probe-fault')
    })
    const posted = this.#cluster.probeSend(probe, 'probe-api', 'post').then((r) => {
      this.apiResult = r
      if (r.ok) this.good.set('probe-api', 'probe-api')
    })
    await sleep(this.#p.faultMs!)
    await proxy.restore()
    this.faults.push({ kind: this.#scenario === 'broker-cut' ? 'cut' : 'stall', start, end: Date.now() })
    trace('broker back')
    // The sends made during the fault have until 30 s after it to end one way or the other.
    await Promise.race([Promise.all([sent, posted]), sleep(30_000)])
  }

  async #seed(n: number, ms: number): Promise<void> {
    const envelopes: Envelope[] = []
    for (let i = 0; i < n; i++) {
      const envelope = createEnvelope({
        type: FAULT_JOB,
        payload: { key: `g${i}`, ms },
        maxAttempts: 5,
        now: Date.now(),
      })
      envelopes.push(envelope)
      this.good.set(envelope.id, `g${i}`)
    }
    for (let i = 0; i < envelopes.length; i += 100)
      await this.#direct.sendBatch(FAULT_QUEUE, envelopes.slice(i, i + 100))
  }

  /** Five of each kind of poison: not an envelope, an unknown type, an invalid payload, a handler that refuses. */
  async #seedPoison(): Promise<void> {
    const now = Date.now()
    const envelopes = [
      ...Array.from({ length: 5 }, (_, i) =>
        createEnvelope({ type: 'fault.unknown', payload: { key: `u${i}` }, maxAttempts: 5, now }),
      ),
      ...Array.from({ length: 5 }, (_, i) =>
        createEnvelope({ type: FAULT_JOB, payload: { key: `i${i}`, ms: 'soon' }, maxAttempts: 5, now }),
      ),
      ...Array.from({ length: 5 }, (_, i) =>
        createEnvelope({
          type: FAULT_JOB,
          payload: { key: `p${i}`, ms: 1, fail: true },
          maxAttempts: 5,
          now,
        }),
      ),
    ]
    for (const e of envelopes) this.poison.add(e.id)
    await this.#direct.sendBatch(FAULT_QUEUE, envelopes)
    if (!canSendRaw(this.#direct)) throw new Error(`${this.#backend} cannot send raw bodies`)
    for (const body of ['{not json', '[]', '{"v":1}', '"just a string"', 'null']) {
      await this.#direct.sendRaw(FAULT_QUEUE, body)
      this.rawPoison++
    }
  }

  #allDone(): boolean {
    const c = this.#cluster
    for (const [id, key] of this.good) if (!c.endedKeys.has(key) && !c.deadLetteredIds.has(id)) return false
    let poisonDone = 0
    for (const id of c.deadLetteredIds) if (!this.good.has(id)) poisonDone++
    return poisonDone >= this.poison.size + this.rawPoison
  }

  async #waitDone(): Promise<void> {
    try {
      await this.#cluster.until(() => this.#allDone(), 'every job done', this.#p.budgetMs)
      trace('every job done')
      // Nothing to await here: late duplicates (a settle lost in the fault) may still start.
      await sleep(this.#p.quietMs)
    } catch (err) {
      this.timedOut = (err as Error).message
    }
    this.endedAt = Date.now()
  }

  /**
   * With the workers gone, reads what is still in the queue for the quiet window plus a lease (leased
   * copies come back by then): a job that finished but whose message is still there would run again.
   */
  async drain(): Promise<void> {
    const found: string[] = []
    const consumer = this.#direct.consume(FAULT_QUEUE, {
      prefetch: 100,
      leaseMs: this.#p.leaseMs,
      onReadable: () => {
        for (const d of consumer.take(100)) {
          const payload = d.envelope?.payload as { key?: string } | undefined
          found.push(payload?.key ?? `body:${d.id}`)
          void d.ack().catch(() => undefined)
        }
      },
    })
    await sleep(this.#p.quietMs + (this.#backend === 'pubsub' ? 0 : this.#p.leaseMs))
    await consumer.close()
    this.leftover.push(...found)
    this.endedAt = Date.now()
  }

  async stop(): Promise<void> {
    await this.#cluster.stopAll()
    await Promise.all(this.#inProcess.map((w) => w.stop(1_000)))
  }
}
