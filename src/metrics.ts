import { Counter, Gauge, Registry } from 'prom-client'
import { JobSeries, OUTCOMES, registerDurationHistogram } from './job-series.ts'
import { providerRequestCounts } from './provider-requests.ts'
import type { Queue } from './queue.ts'
import { countsRequests, type JobStore } from './store/job-store.ts'
import { Throughput } from './throughput.ts'

/** What the in-flight gauges read from a worker. */
export interface WorkerGauges {
  readonly running: number
  readonly abandoned: number
}

function sum<T>(items: Iterable<T>, f: (item: T) => number): number {
  let total = 0
  for (const item of items) total += f(item)
  return total
}

/**
 * Conveyor's Prometheus metrics, on a registry of their own (expose `registry.metrics()`), so several
 * workers or tests in one process never collide on prom-client's global registry.
 */
export class Metrics {
  readonly registry: Registry
  readonly enqueued: Counter<'queue' | 'type'>
  readonly completed: Counter<'queue' | 'type' | 'outcome'>
  readonly inFlight: Gauge
  readonly abandoned: Gauge
  readonly settleErrors: Counter<'queue'>
  /** Finished attempts per minute over the last hour, in this process (the dashboard's chart). */
  readonly throughput = new Throughput()
  readonly leaseLost: Counter<'queue'>
  readonly duplicates: Counter<'queue'>
  /** Job-store writes that failed or timed out (the job went on without its record). */
  readonly storeErrors: Counter<'op'>
  readonly #watched = new Map<string, Queue>()
  readonly #workers = new Set<WorkerGauges>()
  readonly #stores = new Set<JobStore>()
  readonly #series = new Map<string, Map<string, JobSeries>>()

  constructor(registry = new Registry()) {
    this.registry = registry
    const allSeries = this.#series
    const everySeries = () => [...allSeries.values()].flatMap((m) => [...m.values()])
    const enqueuedReported = new WeakMap<JobSeries, number>()
    this.enqueued = new Counter({
      name: 'conveyor_jobs_enqueued_total',
      help: 'Jobs accepted by the queue backend.',
      labelNames: ['queue', 'type'],
      registers: [registry],
      collect() {
        for (const s of everySeries()) {
          const delta = s.enqueued - (enqueuedReported.get(s) ?? 0)
          if (delta > 0) this.inc(s.labels, delta)
          enqueuedReported.set(s, s.enqueued)
        }
      },
    })
    const reported = new WeakMap<JobSeries, Record<string, number>>()
    this.completed = new Counter({
      // Counts attempts, not jobs: a job retried twice and then done is 2 retry + 1 success.
      name: 'conveyor_job_attempts_total',
      help: 'Finished attempts by outcome: success, retry (failed, will run again), dead_letter, timeout.',
      labelNames: ['queue', 'type', 'outcome'],
      registers: [registry],
      collect() {
        for (const s of everySeries()) {
          const last = reported.get(s) ?? { success: 0, retry: 0, dead_letter: 0, timeout: 0 }
          for (const outcome of OUTCOMES) {
            const delta = s.outcomes[outcome] - (last[outcome] ?? 0)
            if (delta > 0) this.inc({ ...s.labels, outcome }, delta)
            last[outcome] = s.outcomes[outcome]
          }
          reported.set(s, last)
        }
      },
    })
    registerDurationHistogram(registry, everySeries)
    const workers = this.#workers
    this.inFlight = new Gauge({
      name: 'conveyor_jobs_in_flight',
      help: 'Handlers running now and holding a worker slot.',
      registers: [registry],
      collect() {
        this.set(sum(workers, (w) => w.running))
      },
    })
    this.abandoned = new Gauge({
      name: 'conveyor_jobs_abandoned',
      help: 'Handlers that timed out but have not returned yet (they ignored their AbortSignal).',
      registers: [registry],
      collect() {
        this.set(sum(workers, (w) => w.abandoned))
      },
    })
    this.settleErrors = new Counter({
      name: 'conveyor_settle_errors_total',
      help: 'Acks, retries or dead-letters the backend refused (the message will be redelivered).',
      labelNames: ['queue'],
      registers: [registry],
    })
    this.leaseLost = new Counter({
      name: 'conveyor_leases_lost_total',
      help: 'Deliveries whose lease was lost (extension refused, receipt stale, lease ran out): the handler was aborted or never started, and nothing was acked.',
      labelNames: ['queue'],
      registers: [registry],
    })
    this.duplicates = new Counter({
      name: 'conveyor_duplicate_deliveries_total',
      help: 'Deliveries of a message already running in this worker: not started a second time.',
      labelNames: ['queue'],
      registers: [registry],
    })
    const stores = this.#stores
    new Counter({
      name: 'conveyor_provider_requests_total',
      help: 'Requests this process made to SQS, Pub/Sub, S3, SES, the job store… by operation (src/provider-requests.ts); divide by jobs for requests per job.',
      labelNames: ['provider', 'operation'],
      registers: [registry],
      collect() {
        this.reset()
        for (const t of providerRequestCounts())
          this.inc({ provider: t.provider, operation: t.operation }, t.count)
        // Job stores count their own requests (CountsRequests); the provider label is the store's driver.
        for (const store of stores) {
          if (!countsRequests(store)) continue
          for (const [operation, n] of store.requests.byOperation)
            this.inc({ provider: store.driver, operation }, n)
        }
      },
    })
    this.storeErrors = new Counter({
      name: 'conveyor_job_store_errors_total',
      help: 'Job-store writes that failed or timed out, by operation; the jobs went on without those records.',
      labelNames: ['op'],
      registers: [registry],
    })
    const watched = this.#watched
    new Gauge({
      name: 'conveyor_queue_messages',
      help: 'Messages per queue and state (ready, in_flight, delayed, dead_lettered), read from stats().',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset()
        await Promise.all(
          [...watched].map(async ([name, queue]) => {
            const s = await queue.stats(name).catch(() => undefined)
            if (!s) return
            const states = {
              ready: s.ready,
              in_flight: s.inFlight,
              delayed: s.delayed,
              dead_lettered: s.deadLettered,
            }
            for (const [state, value] of Object.entries(states))
              if (value !== null) this.set({ queue: name, state }, value)
          }),
        )
      },
    })
  }

  /** The counters for one queue and job type; the worker records every attempt there. */
  series(queue: string, type: string): JobSeries {
    let byType = this.#series.get(queue)
    if (!byType) {
      byType = new Map()
      this.#series.set(queue, byType)
    }
    let s = byType.get(type)
    if (!s) {
      s = new JobSeries(queue, type, this.throughput)
      byType.set(type, s)
    }
    return s
  }

  /** Report a worker's running and abandoned handlers whenever metrics are scraped. */
  trackWorker(worker: WorkerGauges): void {
    this.#workers.add(worker)
  }

  /** Report the job store's requests (when it counts them) in `conveyor_provider_requests_total`. */
  watchStore(store: JobStore): void {
    this.#stores.add(store)
  }

  /** Report `name`'s depth from `queue.stats()` whenever metrics are scraped. */
  watchQueue(queue: Queue, name: string): void {
    this.#watched.set(name, queue)
  }
}
