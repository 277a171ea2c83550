import { type Clock, systemClock, type TimerHandle } from '../clock.ts'
import { ResultTooLargeError } from '../errors.ts'
import { createLogger, type Logger } from '../logger.ts'
import type { Metrics } from '../metrics.ts'
import {
  type AttemptRef,
  hasSyncRecordWrites,
  type JobErrorInfo,
  type JobProgress,
  type JobRecord,
  type JobStore,
  type NewJobRecord,
  type SyncRecordWrites,
  type Transition,
  type TransitionResult,
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
 * Every call gives up after `timeoutMs`, at no timer per call: pending calls sit in a set that one
 * timer sweeps every `timeoutMs / 2` while anything is pending. A store whose record writes are done
 * when they return (SyncRecordWrites: the memory store) skips all that: its create and transition
 * writes are made in the caller's turn, and `done` is called before the method returns.
 */
export class JobLedger {
  readonly store: JobStore
  readonly timeoutMs: number
  readonly #log: Logger
  readonly #metrics: Metrics | undefined
  readonly #clock: Clock
  /** The store, when its record writes are synchronous. */
  readonly #sync: (JobStore & SyncRecordWrites) | undefined
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
    this.#sync = hasSyncRecordWrites(options.store) ? options.store : undefined
  }

  /**
   * Records new jobs. Resolves once they are stored, or after `timeoutMs` / a failure (counted): the
   * producer sends either way.
   */
  created(records: readonly NewJobRecord[]): Promise<void> {
    if (this.#sync) return this.#createdSync(this.#sync, records)
    const store = this.store
    const write: Promise<unknown> =
      records.length === 1 ? store.create(records[0]!) : Promise.all(records.map((r) => store.create(r)))
    return new Promise((resolve) => this.#guard('create', write, () => resolve()))
  }

  /**
   * Records that the attempt started and calls `done` with the store's answer, or with undefined when
   * it failed or did not answer within `timeoutMs` (the worker then runs the job anyway). A callback,
   * not a promise: this is on every job's path.
   */
  running(
    id: string,
    attempt: number,
    startedAt: number,
    done: (answer: TransitionResult | undefined) => void,
  ): void {
    const to: Transition = { status: 'running', attempt, startedAt }
    if (this.#sync) done(this.#transitionSync(this.#sync, id, to))
    else this.#guard('transition', this.store.transition(id, to), done)
  }

  // Outcome writes: `done` (optional) is called once the write is stored, failed or timed out.

  retrying(id: string, attempt: number, runAt: number, error: JobErrorInfo, done?: () => void): void {
    this.#transition(id, { status: 'retrying', attempt, runAt, error }, done)
  }

  /**
   * Records success with the handler's resolved value. A value the store will not keep (over its cap,
   * or not JSON) still records success, with a ResultDropped note saying why.
   */
  succeeded(id: string, attempt: number, result: unknown, done?: () => void): void {
    const store = this.store
    const to: Transition = { status: 'succeeded', attempt, result }
    const sync = this.#sync
    if (sync) {
      try {
        sync.transitionSync(id, to)
        if (this.#burst > 0) this.#recovered()
      } catch (err) {
        const dropped = droppedResult(err, result)
        if (dropped) this.#transitionSync(sync, id, { status: 'succeeded', attempt, result: dropped })
        else this.#failed('transition', err)
      }
      done?.()
      return
    }
    this.#guard('transition', store.transition(id, to), done, (err) => {
      const dropped = droppedResult(err, result)
      return dropped && store.transition(id, { status: 'succeeded', attempt, result: dropped })
    })
  }

  failed(id: string, attempt: number, error: JobErrorInfo, done?: () => void): void {
    this.#transition(id, { status: 'failed', attempt, error }, done)
  }

  cancelled(id: string, attempt?: number, done?: () => void): void {
    const to =
      attempt === undefined ? { status: 'cancelled' as const } : { status: 'cancelled' as const, attempt }
    this.#transition(id, to, done)
  }

  /** Records progress; resolves once stored, failed or timed out. Never rejects. */
  progress(id: string, at: AttemptRef, progress: JobProgress): Promise<unknown> {
    const write = this.store.progress(id, at, progress)
    return new Promise<unknown>((resolve) => this.#guard('progress', write, resolve))
  }

  /** Reads a record (best effort: undefined when the store fails or does not answer in time). */
  peek(id: string): Promise<JobRecord | undefined> {
    const read = this.store.get(id)
    return new Promise<JobRecord | undefined>((resolve) =>
      this.#guard<JobRecord | undefined>('get', read, resolve),
    )
  }

  /** Stops the timeout sweep. The store is closed by whoever created it. */
  close(): void {
    if (this.#sweep) this.#clock.clearTimer(this.#sweep)
    this.#sweep = undefined
    for (const p of this.#pending) p.resolve(undefined)
    this.#pending.clear()
  }

  /** An outcome write: made at once on a synchronous store, else guarded. */
  #transition(id: string, to: Transition, done: (() => void) | undefined): void {
    if (this.#sync) {
      this.#transitionSync(this.#sync, id, to)
      done?.()
    } else this.#guard('transition', this.store.transition(id, to), done)
  }

  /** Creates on a synchronous store; a failure is counted once for the batch. */
  #createdSync(store: SyncRecordWrites, records: readonly NewJobRecord[]): Promise<void> {
    let failure: unknown
    let failed = false
    for (const record of records) {
      try {
        store.createSync(record)
      } catch (err) {
        failure ??= err
        failed = true
      }
    }
    if (failed) this.#failed('create', failure)
    else if (this.#burst > 0) this.#recovered()
    return DONE
  }

  /** A transition on a synchronous store: its answer, or undefined when it threw (counted). */
  #transitionSync(store: SyncRecordWrites, id: string, to: Transition): TransitionResult | undefined {
    try {
      const answer = store.transitionSync(id, to)
      if (this.#burst > 0) this.#recovered()
      return answer
    } catch (err) {
      this.#failed('transition', err)
      return undefined
    }
  }

  /**
   * Waits for `call`: `done` gets the answer, or undefined on failure or after `timeoutMs` (counted).
   * `recover` may turn a rejection into a second call (waited for the same way).
   */
  #guard<T>(
    op: string,
    call: Promise<T>,
    done: ((value: T | undefined) => void) | undefined,
    recover?: (err: unknown) => Promise<T> | undefined,
  ): void {
    const resolve = done ?? ignore
    const pending: Pending = { at: this.#clock.now(), resolve: resolve as (value: undefined) => void }
    this.#pending.add(pending)
    this.#sweep ??= this.#clock.setTimer(this.#onSweep, this.timeoutMs / 2)
    call.then(
      (value) => {
        if (!this.#pending.delete(pending)) return
        if (this.#burst > 0) this.#recovered()
        resolve(value)
      },
      (err: unknown) => {
        if (!this.#pending.delete(pending)) return
        const next = recover?.(err)
        if (next) return this.#guard(op, next, done)
        this.#failed(op, err)
        resolve(undefined)
      },
    )
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

  #failed(op: string, err: unknown): undefined {
    this.#metrics?.storeErrors.inc({ op })
    if (this.#burst++ === 0) {
      this.#log.warn(
        { err, op, store: this.store.driver },
        'job store write failed; jobs go on without their records (further failures are counted in conveyor_job_store_errors_total until it answers again)',
      )
    }
    return undefined
  }

  #recovered(): void {
    this.#log.info({ failures: this.#burst, store: this.store.driver }, 'job store answering again')
    this.#burst = 0
  }
}

function ignore(): void {}

const DONE: Promise<void> = Promise.resolve()

/** What a `succeeded` record holds when the store refused the result (`err`), or undefined to give up. */
function droppedResult(err: unknown, result: unknown): ResultDropped | undefined {
  const code = err instanceof ResultTooLargeError ? 'RESULT_TOO_LARGE' : notJson(result)
  if (!code) return undefined
  return {
    $conveyor: 'result_dropped',
    code,
    message:
      code === 'RESULT_TOO_LARGE'
        ? `${(err as Error).message}; the job succeeded but its result was not kept`
        : 'the job succeeded but its result is not JSON, so it was not kept',
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
