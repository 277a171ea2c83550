import { type Clock, systemClock } from '../../src/clock.ts'
import { StoreUnavailableError } from '../../src/errors.ts'
import type {
  AttemptRef,
  CancelOutcome,
  ClaimResult,
  JobPage,
  JobProgress,
  JobQuery,
  JobRecord,
  JobStore,
  NewJobRecord,
  Transition,
  TransitionResult,
} from '../../src/store/job-store.ts'
import {
  applyPatch,
  compareNewestFirst,
  DEFAULT_RECORD_TTL_MS,
  DEFAULT_RESULT_MAX_BYTES,
  decodeCursor,
  encodeCursor,
  isTerminal,
  matchesQuery,
  newRecord,
  normalizeProgress,
  type Patch,
  pageSize,
  RequestCounts,
  reopenPatch,
  type StatusCounts,
  serializeResult,
  stepOf,
  TERMINAL_STEP,
  tally,
  transitionPatch,
} from '../../src/store/records.ts'

export interface MemoryJobStoreOptions {
  /** How long a record is kept after its last write (after it finishes, for a finished job). Default 168 h. */
  recordTtlMs?: number
  /** Largest `result`, as JSON bytes. Default 64 KiB. */
  resultMaxBytes?: number
}

export interface MemoryJobStoreRuntime {
  /** Defaults to the system clock; tests pass a ManualClock and move time. */
  clock?: Clock
}

interface Stored {
  record: JobRecord
  step: number
}

/**
 * A JobStore in this process's memory with the same semantics as the remote ones: monotonic
 * transitions by run and step, TTL expiry of records, claims and counters on the injected clock.
 * Everything is gone when the process exits, and other processes do not see it.
 */
export class MemoryJobStore implements JobStore {
  readonly driver = 'memory'
  readonly requests = new RequestCounts()
  readonly recordTtlMs: number
  readonly resultMaxBytes: number
  readonly #clock: Clock
  readonly #jobs = new Map<string, Stored>()
  readonly #claims = new Map<string, { value: string; until: number }>()
  readonly #counters = new Map<string, { total: number; until: number }>()
  #writesSincePrune = 0
  #closed = false

  constructor(options: MemoryJobStoreOptions = {}, runtime: MemoryJobStoreRuntime = {}) {
    this.recordTtlMs = options.recordTtlMs ?? DEFAULT_RECORD_TTL_MS
    this.resultMaxBytes = options.resultMaxBytes ?? DEFAULT_RESULT_MAX_BYTES
    this.#clock = runtime.clock ?? systemClock
  }

  async create(job: NewJobRecord): Promise<boolean> {
    this.#open('create', 'write')
    if (this.#live(job.id)) return false
    this.#jobs.set(job.id, { record: newRecord(job, this.#clock.now(), this.recordTtlMs), step: 0 })
    this.#maybePrune()
    return true
  }

  async get(id: string): Promise<JobRecord | undefined> {
    this.#open('get', 'read')
    const stored = this.#live(id)
    return stored && structuredClone(stored.record)
  }

  async transition(id: string, to: Transition): Promise<TransitionResult> {
    this.#open('transition', 'write')
    const resultJson = to.status === 'succeeded' ? serializeResult(to.result, this.resultMaxBytes) : undefined
    const stored = this.#live(id)
    if (!stored) return { applied: false }
    const patch = transitionPatch(to, this.#clock.now(), this.recordTtlMs)
    if ((to.run !== undefined && to.run !== stored.record.run) || stored.step >= patch.step)
      return { applied: false, current: structuredClone(stored.record) }
    // A retry of a job someone asked to stop does not run again: it ends cancelled instead.
    if (to.status === 'retrying' && stored.record.cancelRequested) {
      const attempt = { attempt: to.attempt }
      this.#apply(
        stored,
        transitionPatch({ status: 'cancelled', ...attempt }, this.#clock.now(), this.recordTtlMs),
      )
      return { applied: false, current: structuredClone(stored.record) }
    }
    this.#apply(stored, patch)
    if (resultJson !== undefined) stored.record.result = JSON.parse(resultJson)
    return { applied: true }
  }

  async progress(id: string, at: AttemptRef, progress: JobProgress): Promise<boolean> {
    this.#open('progress', 'write')
    const stored = this.#live(id)
    if (!stored || stored.step !== stepOf('running', at.attempt)) return false
    if (at.run !== undefined && at.run !== stored.record.run) return false
    stored.record.progress = normalizeProgress(progress)
    stored.record.updatedAt = this.#clock.now()
    return true
  }

  async requestCancel(id: string): Promise<CancelOutcome> {
    this.#open('requestCancel', 'write')
    const stored = this.#live(id)
    if (!stored) return 'not_found'
    const { status } = stored.record
    if (isTerminal(status)) return 'finished'
    if (status === 'running') {
      stored.record.cancelRequested = true
      stored.record.updatedAt = this.#clock.now()
      return 'requested'
    }
    this.#apply(stored, transitionPatch({ status: 'cancelled' }, this.#clock.now(), this.recordTtlMs))
    return 'cancelled'
  }

  async reopen(id: string): Promise<boolean> {
    this.#open('reopen', 'write')
    const stored = this.#live(id)
    if (!stored || stored.step !== TERMINAL_STEP) return false
    this.#apply(stored, reopenPatch(this.#clock.now(), this.recordTtlMs))
    stored.record.run++
    return true
  }

  async list(query: JobQuery): Promise<JobPage> {
    this.#open('list', 'read')
    const now = this.#clock.now()
    const after = decodeCursor(query.cursor)
    const limit = pageSize(query)
    const matches: JobRecord[] = []
    for (const { record } of this.#jobs.values()) {
      if (record.expiresAt <= now || !matchesQuery(record, query)) continue
      if (after && compareNewestFirst(after, record) >= 0) continue
      matches.push(record)
    }
    matches.sort(compareNewestFirst)
    const items = matches.slice(0, limit).map((r) => structuredClone(r))
    const last = items.at(-1)
    return matches.length > limit && last ? { items, nextCursor: encodeCursor(last) } : { items }
  }

  async countByStatus(): Promise<StatusCounts> {
    this.#open('countByStatus', 'read')
    const now = this.#clock.now()
    const out: StatusCounts = {}
    for (const { record } of this.#jobs.values()) {
      if (record.expiresAt <= now) continue
      tally(out, record.queue, record.status)
    }
    return out
  }

  async claim(key: string, value: string, ttlMs: number): Promise<ClaimResult> {
    this.#open('claim', 'write')
    const now = this.#clock.now()
    const held = this.#claims.get(key)
    if (held && held.until > now) return { won: false, value: held.value }
    this.#claims.set(key, { value, until: now + ttlMs })
    this.#maybePrune()
    return { won: true }
  }

  async release(key: string, value?: string): Promise<boolean> {
    this.#open('release', 'write')
    const held = this.#claims.get(key)
    if (!held || held.until <= this.#clock.now()) return false
    if (value !== undefined && held.value !== value) return false
    this.#claims.delete(key)
    return true
  }

  async add(key: string, delta: number, windowMs: number): Promise<number> {
    this.#open('add', 'write')
    const now = this.#clock.now()
    let counter = this.#counters.get(key)
    if (!counter || counter.until <= now) {
      counter = { total: 0, until: now + windowMs }
      this.#counters.set(key, counter)
      this.#maybePrune()
    }
    counter.total += delta
    return counter.total
  }

  async ping(): Promise<void> {
    this.#open('ping', 'read')
  }

  async close(): Promise<void> {
    this.#closed = true
  }

  #open(operation: string, kind: 'read' | 'write'): void {
    if (this.#closed) throw new StoreUnavailableError('the memory job store is closed')
    this.requests.count(operation, kind)
  }

  #live(id: string): Stored | undefined {
    const stored = this.#jobs.get(id)
    if (!stored) return undefined
    if (stored.record.expiresAt > this.#clock.now()) return stored
    this.#jobs.delete(id)
    return undefined
  }

  #apply(stored: Stored, patch: Patch): void {
    applyPatch(stored.record, patch)
    stored.step = patch.step
  }

  /** Forgets expired entries once enough writes have happened since the last sweep (amortised O(1)). */
  #maybePrune(): void {
    const size = this.#jobs.size + this.#claims.size + this.#counters.size
    if (++this.#writesSincePrune < Math.max(1_000, size / 2)) return
    this.#writesSincePrune = 0
    const now = this.#clock.now()
    for (const [id, stored] of this.#jobs) if (stored.record.expiresAt <= now) this.#jobs.delete(id)
    for (const [key, claim] of this.#claims) if (claim.until <= now) this.#claims.delete(key)
    for (const [key, counter] of this.#counters) if (counter.until <= now) this.#counters.delete(key)
  }
}
