/**
 * The job ledger: shared state every process of a deployment sees (API processes, workers, the CLI).
 *
 * A JobStore keeps three kinds of state:
 * - **job records**: one per job id, what the job is doing now (status, attempts, progress, result,
 *   error, the cancel flag). The queue is the delivery path; the store is an observation and
 *   coordination layer: a job whose delivery needs no store answer still runs while the store is down.
 * - **claims**: create-if-absent of a key with a TTL. Of any number of concurrent callers exactly one
 *   wins; the others learn the winner's value. Idempotent enqueue and once-per-tick schedules use them.
 * - **counters**: an atomic add inside a fixed TTL window (shared caps and rate limits).
 *
 * Writes to job records are **monotonic**. Every state has a rank:
 *
 *     queued | delayed  <  running(1) < retrying(1) < running(2) < retrying(2) < … <  succeeded | failed | cancelled
 *
 * and a write applies only if its rank is above the stored one, checked by the backend's conditional
 * write (a DynamoDB ConditionExpression, a Firestore transaction, a compare in memory). So a late or
 * duplicate write (a stale `running` after `succeeded`, an older attempt's outcome arriving last) never
 * overwrites a newer state, and the first terminal write wins. `reopen` is the one way back from a
 * terminal state (an operator redrives a dead letter): it starts a new `run` of the record, and writes
 * tagged with an older run are refused.
 *
 * Every method rejects with StoreUnavailableError when the backend cannot be reached or does not
 * answer within the backend's request timeout: nothing hangs. Methods never throw for "not found";
 * they return undefined / false instead.
 */
export interface JobStore {
  /** `memory`, `dynamodb` or `firestore`. */
  readonly driver: string

  /**
   * Records a new job (status `queued`, or `delayed` when `runAt` is in the future). Idempotent for the
   * same id: a second create of an existing id changes nothing and resolves to false.
   */
  create(job: NewJobRecord): Promise<boolean>

  /** The record, or undefined when there is none (never existed, or expired). */
  get(id: string): Promise<JobRecord | undefined>

  /**
   * Moves a job forward (see the ranks above). `applied` is true when the write took effect; when it did
   * not (the stored state was already at or beyond it), `current` is the stored record, so a worker can
   * tell a cancelled or finished job from a duplicate delivery without another read; both are absent
   * when there is no record. A `succeeded` result larger than the store's cap rejects with
   * ResultTooLargeError and writes nothing. A `retrying` write to a job with `cancelRequested` does not
   * apply: the job becomes `cancelled` instead (it never runs again) and `current` says so.
   */
  transition(id: string, to: Transition): Promise<TransitionResult>

  /** Records a running attempt's progress; ignored unless that run/attempt is the one running. */
  progress(id: string, at: AttemptRef, progress: JobProgress): Promise<boolean>

  /**
   * Asks a job to stop. A job that has not started (`queued`, `delayed`, `retrying`) becomes `cancelled`
   * at once and never runs (the worker acks it on delivery). A `running` job gets `cancelRequested`; the
   * worker holding it aborts its signal and records `cancelled`. A finished job is left alone.
   */
  requestCancel(id: string): Promise<CancelOutcome>

  /**
   * Starts a new run of a finished job (a redrive of its dead letter, a retry from the dashboard): status
   * `queued`, `run` + 1, attempts 0, no error or result. False when the job is not finished.
   */
  reopen(id: string): Promise<boolean>

  /** Records newest first (by createdAt, then id), filtered; `cursor` continues a previous page. */
  list(query: JobQuery): Promise<JobPage>

  /** Counts of records by queue and status, for dashboards. May be approximate on remote backends. */
  countByStatus(): Promise<Record<string, Partial<Record<JobStatus, number>>>>

  /**
   * Creates `key` holding `value` for `ttlMs` if no live claim holds it. Exactly one of any number of
   * concurrent callers wins; every loser gets the winner's value. An expired claim counts as absent.
   */
  claim(key: string, value: string, ttlMs: number): Promise<ClaimResult>

  /** Removes a claim (only if it still holds `value`, when given). Resolves to whether it removed one. */
  release(key: string, value?: string): Promise<boolean>

  /**
   * Adds `delta` (may be negative) to the counter `key` and resolves to the new total. The counter lives
   * in a fixed window of `windowMs` from its first add; after that it starts again from 0.
   */
  add(key: string, delta: number, windowMs: number): Promise<number>

  /** Resolves when the backend answers (readiness); rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void>

  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>
}

export type JobStatus = 'queued' | 'delayed' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled'

export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled']

export interface JobProgress {
  /** 0–100. */
  percent: number
  message?: string
}

export interface JobErrorInfo {
  code: string
  message: string
}

export interface JobRecord {
  id: string
  type: string
  queue: string
  /** Who enqueued it (the token's `sub`), when known. */
  owner?: string
  status: JobStatus
  /** Handler runs so far (the worker's count, not the broker's delivery count). */
  attempts: number
  maxAttempts: number
  /** 1 at creation; each `reopen` adds one. */
  run: number
  /** Epoch ms. */
  createdAt: number
  updatedAt: number
  startedAt?: number
  finishedAt?: number
  /** When a delayed job, or the next retry, is due. */
  runAt?: number
  progress?: JobProgress
  /** The handler's resolved JSON value (size-capped). */
  result?: unknown
  error?: JobErrorInfo
  /** Someone asked a running job to stop; the worker holding it aborts it. */
  cancelRequested?: boolean
  /** Epoch ms after which the store may forget the record. */
  expiresAt: number
}

export interface NewJobRecord {
  id: string
  type: string
  queue: string
  owner?: string
  maxAttempts: number
  createdAt: number
  /** Future epoch ms for a delayed job. */
  runAt?: number
}

/** Which run and attempt a write speaks for; writes from an older run or attempt are refused. */
export interface AttemptRef {
  run?: number
  attempt: number
}

export type Transition =
  | ({ status: 'running'; startedAt: number } & AttemptRef)
  | ({ status: 'retrying'; runAt: number; error: JobErrorInfo } & AttemptRef)
  | ({ status: 'succeeded'; result?: unknown } & AttemptRef)
  | ({ status: 'failed'; error: JobErrorInfo } & AttemptRef)
  | ({ status: 'cancelled' } & Partial<AttemptRef>)

export interface TransitionResult {
  applied: boolean
  /** The stored record when the write did not apply. */
  current?: JobRecord
}

export type CancelOutcome =
  /** It had not started; it is `cancelled` now and will not run. */
  | 'cancelled'
  /** It is running; the worker holding it will abort it. */
  | 'requested'
  /** It had already finished; nothing changed. */
  | 'finished'
  | 'not_found'

export interface JobQuery {
  owner?: string
  status?: JobStatus
  type?: string
  queue?: string
  /** 1–100. Default 20. */
  limit?: number
  cursor?: string
}

export interface JobPage {
  items: JobRecord[]
  nextCursor?: string
}

export type ClaimResult = { won: true } | { won: false; value: string }

/**
 * Optional: a store that counts the requests it sends to its backend (benchmarks report writes and
 * reads per job from it). A retried request counts once per try.
 */
export interface CountsRequests {
  readonly requests: {
    readonly reads: number
    readonly writes: number
    /** By backend operation (`GetItem`, `UpdateItem`, `transaction`, `create`...). */
    readonly byOperation: ReadonlyMap<string, number>
  }
}

export function countsRequests(store: JobStore): store is JobStore & CountsRequests {
  return typeof (store as Partial<CountsRequests>).requests?.writes === 'number'
}

/**
 * Optional: a store whose job-record writes are done by the time they return (the memory store). The
 * ledger calls these in place of `create` / `transition`, so a write on every job's path costs no
 * promise, callback or timeout bookkeeping. Same semantics as the promise methods; what those reject
 * with (StoreUnavailableError, ResultTooLargeError) these throw.
 */
export interface SyncRecordWrites {
  /** Always `true`: the store says so itself (a method's presence alone is not taken as the promise). */
  readonly syncRecordWrites: true
  createSync(job: NewJobRecord): boolean
  transitionSync(id: string, to: Transition): TransitionResult
}

export function hasSyncRecordWrites(store: JobStore): store is JobStore & SyncRecordWrites {
  return (store as Partial<SyncRecordWrites>).syncRecordWrites === true
}
