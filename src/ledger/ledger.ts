import { type Clock, systemClock, type TimerHandle } from '../clock.ts'
import { ResultTooLargeError } from '../errors.ts'
import { createLogger, type Logger } from '../logger.ts'
import type { Metrics } from '../metrics.ts'
import type {
  AttemptRef,
  JobErrorInfo,
  JobProgress,
  JobStore,
  NewJobRecord,
  TransitionResult,
} from '../store/job-store.ts'

export interface JobLedgerOptions {
  store: JobStore
  logger?: Logger
  /** Where failed writes are counted (`conveyor_job_store_errors_total`). */
  metrics?: Metrics
  clock?: Clock
  /**
   * How long a best-effort write may take before the job goes on without it (the write is counted as
   * failed; if it lands later, the store's monotonic ranks keep it harmless). Default 1000 ms.
   */
  timeoutMs?: number
}

/**
 * What a `succeeded` record holds in place of a result the store would not keep. The HTTP view shows it
 * as `error: { code: 'RESULT_TOO_LARGE' | 'RESULT_NOT_JSON', message }` next to `status: succeeded`.
 */
export interface ResultDropped {
  $conveyor: 'result_dropped'
  code: 'RESULT_TOO_LARGE' | 'RESULT_NOT_JSON'
  message: string
}

export function isResultDropped(result: unknown): result is ResultDropped {
  return (
    typeof result === 'object' &&
    result !== null &&
    (result as { $conveyor?: unknown }).$conveyor === 'result_dropped'
  )
}

interface Pending {
  readonly at: number
  readonly resolve: (value: undefined) => void
}

/**
 * The job ledger as jobs see it: a JobStore plus the rule that **records are observations, not the
 * delivery path**. The producer and the worker write through the best-effort methods here: each write
 * has `timeoutMs`; a failed or slow write is counted (`conveyor_job_store_errors_total{op}`), logged once
 * per burst of failures, and resolves to undefined, so the job goes on. Whatever needs the store's
 * answer (idempotent enqueue, cancel, reads) calls `store` directly and gets its StoreUnavailableError.
 *
 * Timeouts cost no timer per write: pending writes sit in a set that one timer sweeps every
 * `timeoutMs / 2` while anything is pending.
 */
export class JobLedger {
  readonly store: JobStore
  readonly timeoutMs: number
  readonly #log: Logger
  readonly #metrics: Metrics | undefined
  readonly #clock: Clock
  readonly #pending = new Set<Pending>()
  #sweep: TimerHandle | undefined
  /** Failures since the last success; the first of a burst is logged, the rest are counted. */
  #burst = 0

  constructor(options: JobLedgerOptions) {
    this.store = options.store
    this.timeoutMs = options.timeoutMs ?? 1000
    this.#log = options.logger ?? createLogger()
    this.#metrics = options.metrics
    this.#clock = options.clock ?? systemClock
  }

  /** Records new jobs (best effort). */
  created(records: readonly NewJobRecord[]): Promise<void> {
    const store = this.store
    const write: Promise<unknown> =
      records.length === 1 ? store.create(records[0]!) : Promise.all(records.map((r) => store.create(r)))
    return this.#guard('create', write) as Promise<void>
  }

  /** Records that the attempt started; undefined when the store did not answer in time. */
  running(id: string, attempt: number, startedAt: number): Promise<TransitionResult | undefined> {
    return this.#guard('transition', this.store.transition(id, { status: 'running', attempt, startedAt }))
  }

  retrying(id: string, attempt: number, runAt: number, error: JobErrorInfo): Promise<unknown> {
    return this.#guard('transition', this.store.transition(id, { status: 'retrying', attempt, runAt, error }))
  }

  /**
   * Records success with the handler's resolved value. A value the store will not keep (over its cap,
   * or not JSON) still records success, with a ResultDropped note saying why.
   */
  succeeded(id: string, attempt: number, result: unknown): Promise<unknown> {
    const store = this.store
    const first = store.transition(id, { status: 'succeeded', attempt, result })
    const write = first.catch((err: unknown) => {
      const code = err instanceof ResultTooLargeError ? 'RESULT_TOO_LARGE' : notJson(result)
      if (!code) throw err
      const dropped: ResultDropped = {
        $conveyor: 'result_dropped',
        code,
        message:
          code === 'RESULT_TOO_LARGE'
            ? `${(err as Error).message}; the job succeeded but its result was not kept`
            : 'the job succeeded but its result is not JSON, so it was not kept',
      }
      return store.transition(id, { status: 'succeeded', attempt, result: dropped })
    })
    return this.#guard('transition', write)
  }

  failed(id: string, attempt: number, error: JobErrorInfo): Promise<unknown> {
    return this.#guard('transition', this.store.transition(id, { status: 'failed', attempt, error }))
  }

  cancelled(id: string, attempt?: number): Promise<unknown> {
    const to =
      attempt === undefined ? { status: 'cancelled' as const } : { status: 'cancelled' as const, attempt }
    return this.#guard('transition', this.store.transition(id, to))
  }

  progress(id: string, at: AttemptRef, progress: JobProgress): Promise<unknown> {
    return this.#guard('progress', this.store.progress(id, at, progress))
  }

  /** Reads a record (best effort: undefined when the store does not answer in time). */
  peek(id: string): ReturnType<JobStore['get']> {
    return this.#guard('get', this.store.get(id))
  }

  /** Stops the timeout sweep. The store is closed by whoever created it. */
  close(): void {
    if (this.#sweep) this.#clock.clearTimer(this.#sweep)
    this.#sweep = undefined
    for (const p of this.#pending) p.resolve(undefined)
    this.#pending.clear()
  }

  #guard<T>(op: string, write: Promise<T>): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve) => {
      const pending: Pending = { at: this.#clock.now(), resolve }
      this.#pending.add(pending)
      this.#sweep ??= this.#clock.setTimer(this.#onSweep, this.timeoutMs / 2)
      write.then(
        (value) => {
          if (!this.#pending.delete(pending)) return
          if (this.#burst > 0) this.#recovered()
          resolve(value)
        },
        (err: unknown) => {
          if (!this.#pending.delete(pending)) return
          this.#failed(op, err)
          resolve(undefined)
        },
      )
    })
  }

  readonly #onSweep = (): void => {
    this.#sweep = undefined
    const cutoff = this.#clock.now() - this.timeoutMs
    for (const p of this.#pending) {
      if (p.at > cutoff) continue
      this.#pending.delete(p)
      this.#failed('timeout', new Error(`the job store did not answer within ${this.timeoutMs} ms`))
      p.resolve(undefined)
    }
    if (this.#pending.size > 0) this.#sweep = this.#clock.setTimer(this.#onSweep, this.timeoutMs / 2)
  }

  #failed(op: string, err: unknown): void {
    this.#metrics?.storeErrors.inc({ op })
    if (this.#burst++ === 0) {
      this.#log.warn(
        { err, op, store: this.store.driver },
        'job store write failed; jobs go on without their records (further failures are counted in conveyor_job_store_errors_total until it answers again)',
      )
    }
  }

  #recovered(): void {
    this.#log.info({ failures: this.#burst, store: this.store.driver }, 'job store answering again')
    this.#burst = 0
  }
}

function notJson(value: unknown): 'RESULT_NOT_JSON' | undefined {
  try {
    JSON.stringify(value)
    return undefined
  } catch {
    return 'RESULT_NOT_JSON'
  }
}
