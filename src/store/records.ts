import { ResultTooLargeError } from '../errors.ts'
import type { JobProgress, JobQuery, JobRecord, JobStatus, NewJobRecord, Transition } from './job-store.ts'

/**
 * What every JobStore backend shares: the rank of each state, what a transition writes, the result cap
 * and the cursor format. Backends differ only in how they make the write conditional.
 */

/** The step of a terminal state: above every running/retrying step of any attempt. */
export const TERMINAL_STEP = 1_000_000_000

/** Defaults every backend uses (the config schema documents the settings that override them). */
export const DEFAULT_RECORD_TTL_MS = 168 * 3_600_000
export const DEFAULT_RESULT_MAX_BYTES = 64 * 1024

/**
 * The rank of a state inside one run: queued/delayed 0, running(a) 2a-1, retrying(a) 2a, terminal
 * TERMINAL_STEP. Across runs, the run number decides first (see `reopen`).
 */
export function stepOf(status: JobStatus, attempt: number | undefined): number {
  switch (status) {
    case 'queued':
    case 'delayed':
      return 0
    case 'running':
      return 2 * (attempt ?? 1) - 1
    case 'retrying':
      return 2 * (attempt ?? 1)
    default:
      return TERMINAL_STEP
  }
}

export function isTerminal(status: JobStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled'
}

/** The fields a write sets and the optional fields it removes. `undefined` values are never set. */
export interface Patch {
  set: Partial<JobRecord>
  remove: readonly (keyof JobRecord)[]
  /** The step the record has after this write. */
  step: number
}

/** A new record as `create` stores it. */
export function newRecord(job: NewJobRecord, now: number, ttlMs: number): JobRecord {
  const delayed = job.runAt !== undefined && job.runAt > now
  const record: JobRecord = {
    id: job.id,
    type: job.type,
    queue: job.queue,
    status: delayed ? 'delayed' : 'queued',
    attempts: 0,
    maxAttempts: job.maxAttempts,
    run: 1,
    createdAt: job.createdAt,
    updatedAt: now,
    expiresAt: expiryFor(now, delayed ? job.runAt : undefined, ttlMs),
  }
  if (job.owner !== undefined) record.owner = job.owner
  if (delayed) record.runAt = job.runAt
  return record
}

/** A record may be forgotten `ttlMs` after its last write, or after its due time if that is later. */
export function expiryFor(now: number, runAt: number | undefined, ttlMs: number): number {
  return Math.max(now, runAt ?? 0) + ttlMs
}

// What each write removes (shared: a patch is built on every job's path).
const RUNNING_REMOVES: readonly (keyof JobRecord)[] = ['runAt', 'progress']
const RETRYING_REMOVES: readonly (keyof JobRecord)[] = ['progress']
const SUCCEEDED_REMOVES: readonly (keyof JobRecord)[] = ['runAt', 'error', 'cancelRequested']
const SUCCEEDED_EMPTY_REMOVES: readonly (keyof JobRecord)[] = [...SUCCEEDED_REMOVES, 'result']
const ENDED_REMOVES: readonly (keyof JobRecord)[] = ['runAt', 'cancelRequested']

/**
 * What `to` writes. `resultJson` is the serialised result of a `succeeded` write (checked against the
 * cap by `serializeResult` before anything is written).
 */
export function transitionPatch(to: Transition, now: number, ttlMs: number): Patch {
  switch (to.status) {
    case 'running':
      return {
        set: {
          status: 'running',
          updatedAt: now,
          attempts: to.attempt,
          startedAt: to.startedAt,
          expiresAt: expiryFor(now, undefined, ttlMs),
        },
        remove: RUNNING_REMOVES,
        step: stepOf('running', to.attempt),
      }
    case 'retrying':
      return {
        set: {
          status: 'retrying',
          updatedAt: now,
          attempts: to.attempt,
          runAt: to.runAt,
          error: to.error,
          expiresAt: expiryFor(now, to.runAt, ttlMs),
        },
        remove: RETRYING_REMOVES,
        step: stepOf('retrying', to.attempt),
      }
    case 'succeeded':
      return {
        set: {
          status: 'succeeded',
          updatedAt: now,
          attempts: to.attempt,
          finishedAt: now,
          expiresAt: now + ttlMs,
        },
        remove: to.result === undefined ? SUCCEEDED_EMPTY_REMOVES : SUCCEEDED_REMOVES,
        step: TERMINAL_STEP,
      }
    case 'failed':
      return {
        set: {
          status: 'failed',
          updatedAt: now,
          attempts: to.attempt,
          finishedAt: now,
          error: to.error,
          expiresAt: now + ttlMs,
        },
        remove: ENDED_REMOVES,
        step: TERMINAL_STEP,
      }
    case 'cancelled': {
      const set: Partial<JobRecord> = { status: 'cancelled', updatedAt: now }
      if (to.attempt !== undefined) set.attempts = to.attempt
      set.finishedAt = now
      set.expiresAt = now + ttlMs
      return { set, remove: ENDED_REMOVES, step: TERMINAL_STEP }
    }
  }
}

/** Applies a patch to a record in place (the memory store's write; remote stores' view of their own write). */
export function applyPatch(record: JobRecord, patch: Patch): JobRecord {
  const fields = record as unknown as Record<string, unknown>
  for (const field of patch.remove) delete fields[field]
  for (const [field, value] of Object.entries(patch.set)) if (value !== undefined) fields[field] = value
  return record
}

/** What `reopen` writes: a new run, back to `queued`. */
export function reopenPatch(now: number, ttlMs: number): Patch {
  return {
    set: { status: 'queued', attempts: 0, updatedAt: now, expiresAt: now + ttlMs },
    remove: ['startedAt', 'finishedAt', 'runAt', 'progress', 'result', 'error', 'cancelRequested'],
    step: 0,
  }
}

/** The result as stored JSON; rejects with ResultTooLargeError past `maxBytes`. */
export function serializeResult(result: unknown, maxBytes: number): string | undefined {
  if (result === undefined) return undefined
  const json = JSON.stringify(result)
  if (json === undefined) return undefined
  const bytes = Buffer.byteLength(json)
  if (bytes > maxBytes) throw new ResultTooLargeError(bytes, maxBytes)
  return json
}

/** Progress as stored: percent clamped to 0–100. */
export function normalizeProgress(progress: JobProgress): JobProgress {
  const percent = Math.min(100, Math.max(0, Number.isFinite(progress.percent) ? progress.percent : 0))
  return progress.message === undefined ? { percent } : { percent, message: progress.message }
}

export const DEFAULT_PAGE_SIZE = 20
export const MAX_PAGE_SIZE = 100

export function pageSize(query: JobQuery): number {
  const limit = query.limit ?? DEFAULT_PAGE_SIZE
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.trunc(limit)))
}

/** A list cursor: the sort position of the last record of the page (createdAt, id). Opaque to callers. */
export interface CursorPosition {
  createdAt: number
  id: string
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url')
}

/** The position in `cursor`, or undefined when it is not one this store made (the list starts over). */
export function decodeCursor(cursor: string | undefined): CursorPosition | undefined {
  if (!cursor) return undefined
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string')
      return { createdAt: value[0], id: value[1] }
  } catch {
    // fall through
  }
  return undefined
}

/** Newest first by createdAt, then by id (descending). */
export function compareNewestFirst(a: CursorPosition, b: CursorPosition): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

export function matchesQuery(record: JobRecord, query: JobQuery): boolean {
  return (
    (query.owner === undefined || record.owner === query.owner) &&
    (query.status === undefined || record.status === query.status) &&
    (query.type === undefined || record.type === query.type) &&
    (query.queue === undefined || record.queue === query.queue)
  )
}

/** Reads and writes one store instance made, by operation (`GetItem`, `get`, `transaction`...). */
export class RequestCounts {
  reads = 0
  writes = 0
  readonly byOperation = new Map<string, number>()

  count(operation: string, kind: 'read' | 'write'): void {
    if (kind === 'read') this.reads++
    else this.writes++
    this.byOperation.set(operation, (this.byOperation.get(operation) ?? 0) + 1)
  }
}

export type StatusCounts = Record<string, Partial<Record<JobStatus, number>>>

/** Adds one record to countByStatus's answer. */
export function tally(counts: StatusCounts, queue: string, status: JobStatus, n = 1): void {
  const byStatus = counts[queue] ?? {}
  byStatus[status] = (byStatus[status] ?? 0) + n
  counts[queue] = byStatus
}
