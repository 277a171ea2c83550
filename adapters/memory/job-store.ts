import { type Clock, systemClock } from '../../src/clock.ts'
import { StoreUnavailableError } from '../../src/errors.ts'
import type {
  AttemptRef,
  CancelOutcome,
  ClaimResult,
  JobErrorInfo,
  JobPage,
  JobProgress,
  JobQuery,
  JobRecord,
  JobStatus,
  JobStore,
  NewJobRecord,
  SyncRecordWrites,
  Transition,
  TransitionResult,
} from '../../src/store/job-store.ts'
import {
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

/** How many started attempts' records the store keeps at hand (see #recent). */
const RECENT_MAX = 1024

/**
 * A record as the memory store keeps it: every field always present (absent ones are undefined), so all
 * records share one shape and a write sets fields in place instead of adding and deleting properties.
 * The result is kept as its JSON text. Callers only ever see copies (`toRecord`).
 */
class Slot {
  readonly id: string
  readonly type: string
  readonly queue: string
  readonly owner: string | undefined
  status: JobStatus
  attempts = 0
  readonly maxAttempts: number
  run = 1
  readonly createdAt: number
  updatedAt: number
  startedAt: number | undefined = undefined
  finishedAt: number | undefined = undefined
  runAt: number | undefined
  progress: JobProgress | undefined = undefined
  resultJson: string | undefined = undefined
  error: JobErrorInfo | undefined = undefined
  cancelRequested: boolean | undefined = undefined
  expiresAt: number
  /** The rank of the stored state inside its run (see stepOf). */
  step = 0

  constructor(record: JobRecord) {
    this.id = record.id
    this.type = record.type
    this.queue = record.queue
    this.owner = record.owner
    this.status = record.status
    this.maxAttempts = record.maxAttempts
    this.createdAt = record.createdAt
    this.updatedAt = record.updatedAt
    this.runAt = record.runAt
    this.expiresAt = record.expiresAt
  }

  /** Writes `patch` in place: removed fields become undefined; the result is handled by the caller. */
  apply(patch: Patch): void {
    const fields = this as unknown as Record<string, unknown>
    for (const field of patch.remove) fields[field === 'result' ? 'resultJson' : field] = undefined
    const set = patch.set as Record<string, unknown>
    for (const field in set) {
      const value = set[field]
      if (value !== undefined) fields[field] = value
    }
    if (patch.set.error) this.error = { code: patch.set.error.code, message: patch.set.error.message }
    this.step = patch.step
  }

  /** A copy the caller may keep and change: only the fields that are set, as a JobRecord. */
  toRecord(): JobRecord {
    const record: JobRecord = {
      id: this.id,
      type: this.type,
      queue: this.queue,
      status: this.status,
      attempts: this.attempts,
      maxAttempts: this.maxAttempts,
      run: this.run,
      createdAt: this.createdAt,
      updatedAt: this.updatedAt,
      expiresAt: this.expiresAt,
    }
    if (this.owner !== undefined) record.owner = this.owner
    if (this.startedAt !== undefined) record.startedAt = this.startedAt
    if (this.finishedAt !== undefined) record.finishedAt = this.finishedAt
    if (this.runAt !== undefined) record.runAt = this.runAt
    if (this.progress !== undefined) record.progress = normalizeProgress(this.progress)
    if (this.resultJson !== undefined) record.result = JSON.parse(this.resultJson)
    if (this.error !== undefined) record.error = { code: this.error.code, message: this.error.message }
    if (this.cancelRequested !== undefined) record.cancelRequested = this.cancelRequested
    return record
  }
}

/**
 * A JobStore in this process's memory with the same semantics as the remote ones: monotonic
 * transitions by run and step, TTL expiry of records, claims and counters on the injected clock.
 * Everything is gone when the process exits, and other processes do not see it.
 */
export class MemoryJobStore implements JobStore, SyncRecordWrites {
  readonly driver = 'memory'
  readonly syncRecordWrites = true
  readonly requests = new RequestCounts()
  readonly recordTtlMs: number
  readonly resultMaxBytes: number
  readonly #clock: Clock
  readonly #jobs = new Map<string, Slot>()
  /**
   * The records of attempts that started lately, by id: a job's outcome is usually written soon after its
   * start, and this small map is at hand in the CPU cache where the big one is not. Every entry is also
   * in #jobs (an expired or forgotten record leaves both); it holds at most RECENT_MAX entries.
   */
  readonly #recent = new Map<string, Slot>()
  readonly #claims = new Map<string, { value: string; until: number }>()
  readonly #counters = new Map<string, { total: number; until: number }>()
  #writesSincePrune = 0
  /** No entry expires before this (a lower bound): until then a sweep would find nothing. */
  #earliestExpiry = Number.POSITIVE_INFINITY
  #closed = false

  constructor(options: MemoryJobStoreOptions = {}, runtime: MemoryJobStoreRuntime = {}) {
    this.recordTtlMs = options.recordTtlMs ?? DEFAULT_RECORD_TTL_MS
    this.resultMaxBytes = options.resultMaxBytes ?? DEFAULT_RESULT_MAX_BYTES
    this.#clock = runtime.clock ?? systemClock
  }

  async create(job: NewJobRecord): Promise<boolean> {
    return this.createSync(job)
  }

  createSync(job: NewJobRecord): boolean {
    this.#open('create', 'write')
    const now = this.#clock.now()
    if (this.#live(job.id, now)) return false
    const slot = new Slot(newRecord(job, now, this.recordTtlMs))
    this.#jobs.set(job.id, slot)
    this.#maybePrune(now, slot.expiresAt)
    return true
  }

  async get(id: string): Promise<JobRecord | undefined> {
    this.#open('get', 'read')
    return this.#live(id, this.#clock.now())?.toRecord()
  }

  async transition(id: string, to: Transition): Promise<TransitionResult> {
    return this.transitionSync(id, to)
  }

  transitionSync(id: string, to: Transition): TransitionResult {
    this.#open('transition', 'write')
    const resultJson = to.status === 'succeeded' ? serializeResult(to.result, this.resultMaxBytes) : undefined
    const now = this.#clock.now()
    const slot = this.#find(id, now)
    if (!slot) return { applied: false }
    const patch = transitionPatch(to, now, this.recordTtlMs)
    if ((to.run !== undefined && to.run !== slot.run) || slot.step >= patch.step)
      return { applied: false, current: slot.toRecord() }
    // A retry of a job someone asked to stop does not run again: it ends cancelled instead.
    if (to.status === 'retrying' && slot.cancelRequested) {
      this.#apply(slot, transitionPatch({ status: 'cancelled', attempt: to.attempt }, now, this.recordTtlMs))
      return { applied: false, current: slot.toRecord() }
    }
    this.#apply(slot, patch)
    if (resultJson !== undefined) slot.resultJson = resultJson
    if (to.status === 'running') {
      if (this.#recent.size >= RECENT_MAX) this.#recent.clear()
      this.#recent.set(id, slot)
    } else this.#recent.delete(id)
    return { applied: true }
  }

  async progress(id: string, at: AttemptRef, progress: JobProgress): Promise<boolean> {
    this.#open('progress', 'write')
    const now = this.#clock.now()
    const slot = this.#live(id, now)
    if (!slot || slot.step !== stepOf('running', at.attempt)) return false
    if (at.run !== undefined && at.run !== slot.run) return false
    slot.progress = normalizeProgress(progress)
    slot.updatedAt = now
    return true
  }

  async requestCancel(id: string): Promise<CancelOutcome> {
    this.#open('requestCancel', 'write')
    const now = this.#clock.now()
    const slot = this.#live(id, now)
    if (!slot) return 'not_found'
    if (isTerminal(slot.status)) return 'finished'
    if (slot.status === 'running') {
      slot.cancelRequested = true
      slot.updatedAt = now
      return 'requested'
    }
    this.#apply(slot, transitionPatch({ status: 'cancelled' }, now, this.recordTtlMs))
    return 'cancelled'
  }

  async reopen(id: string): Promise<boolean> {
    this.#open('reopen', 'write')
    const now = this.#clock.now()
    const slot = this.#live(id, now)
    if (!slot || slot.step !== TERMINAL_STEP) return false
    this.#apply(slot, reopenPatch(now, this.recordTtlMs))
    slot.run++
    return true
  }

  async list(query: JobQuery): Promise<JobPage> {
    this.#open('list', 'read')
    const now = this.#clock.now()
    const after = decodeCursor(query.cursor)
    const limit = pageSize(query)
    const matches: Slot[] = []
    for (const slot of this.#jobs.values()) {
      if (slot.expiresAt <= now || !matchesQuery(slot, query)) continue
      if (after && compareNewestFirst(after, slot) >= 0) continue
      matches.push(slot)
    }
    matches.sort(compareNewestFirst)
    const items = matches.slice(0, limit).map((slot) => slot.toRecord())
    const last = items.at(-1)
    return matches.length > limit && last ? { items, nextCursor: encodeCursor(last) } : { items }
  }

  async countByStatus(): Promise<StatusCounts> {
    this.#open('countByStatus', 'read')
    const now = this.#clock.now()
    const out: StatusCounts = {}
    for (const slot of this.#jobs.values()) {
      if (slot.expiresAt <= now) continue
      tally(out, slot.queue, slot.status)
    }
    return out
  }

  async claim(key: string, value: string, ttlMs: number): Promise<ClaimResult> {
    this.#open('claim', 'write')
    const now = this.#clock.now()
    const held = this.#claims.get(key)
    if (held && held.until > now) return { won: false, value: held.value }
    this.#claims.set(key, { value, until: now + ttlMs })
    this.#maybePrune(now, now + ttlMs)
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
      this.#maybePrune(now, counter.until)
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

  #live(id: string, now: number): Slot | undefined {
    const slot = this.#jobs.get(id)
    if (!slot) return undefined
    if (slot.expiresAt > now) return slot
    this.#jobs.delete(id)
    this.#recent.delete(id)
    return undefined
  }

  /** #live, looking in #recent first. */
  #find(id: string, now: number): Slot | undefined {
    const slot = this.#recent.get(id)
    return slot !== undefined && slot.expiresAt > now ? slot : this.#live(id, now)
  }

  #apply(slot: Slot, patch: Patch): void {
    slot.apply(patch)
    if (slot.expiresAt < this.#earliestExpiry) this.#earliestExpiry = slot.expiresAt
  }

  /**
   * Notes a new entry's expiry and forgets expired entries, once enough writes have happened since the
   * last sweep (amortised O(1)) and only when something can have expired by `now` (so with a long TTL,
   * never: no per-record work on the write path).
   */
  #maybePrune(now: number, expiresAt: number): void {
    if (expiresAt < this.#earliestExpiry) this.#earliestExpiry = expiresAt
    if (now < this.#earliestExpiry) return
    const size = this.#jobs.size + this.#claims.size + this.#counters.size
    if (++this.#writesSincePrune < Math.max(1_000, size / 2)) return
    this.#writesSincePrune = 0
    let earliest = Number.POSITIVE_INFINITY
    this.#recent.clear()
    for (const [id, slot] of this.#jobs) {
      if (slot.expiresAt <= now) this.#jobs.delete(id)
      else if (slot.expiresAt < earliest) earliest = slot.expiresAt
    }
    for (const [key, claim] of this.#claims) {
      if (claim.until <= now) this.#claims.delete(key)
      else if (claim.until < earliest) earliest = claim.until
    }
    for (const [key, counter] of this.#counters) {
      if (counter.until <= now) this.#counters.delete(key)
      else if (counter.until < earliest) earliest = counter.until
    }
    this.#earliestExpiry = earliest
  }
}
