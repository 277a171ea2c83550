import { createHash } from 'node:crypto'
import type { Envelope } from '../envelope.ts'
import { IdempotencyConflictError } from '../errors.ts'
import type { JobStore, NewJobRecord } from '../store/job-store.ts'

/** Default life of an idempotency key: 24 h. */
export const DEFAULT_KEY_TTL_MS = 24 * 3_600_000

/**
 * How long a claimed key may go without its "sent" mark before a repeat takes the send over (the first
 * request crashed between claim and send). Default 30 s.
 */
export const DEFAULT_SEND_GRACE_MS = 30_000

/** A stable fingerprint of what is being enqueued, to tell a repeat from a different request. */
export function bodyHash(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url')
}

export interface OnceRequest {
  key: string
  ttlMs: number
  hash: string
  /** The envelope this request would send; a repeat that takes over sends it with the first id. */
  envelope: Envelope
  /** The job's record (undefined for a `track: false` job type: no record, only the key). */
  record: NewJobRecord | undefined
  send: (envelope: Envelope) => Promise<void>
  /** Best-effort note that a send failed (the record says so). */
  onSendFailed: (id: string, err: unknown) => void
  now: number
  graceMs?: number
}

export interface OnceResult {
  id: string
  /** An earlier request with this key already enqueued it; nothing was sent now. */
  duplicate: boolean
  /** When the job was first enqueued. */
  enqueuedAt: number
}

interface ClaimValue {
  id: string
  hash: string
  at: number
}

/**
 * Idempotent enqueue on a JobStore's claims and counters. Every step needs the store: while it is down
 * this rejects with StoreUnavailableError and sends nothing (the API answers 503).
 *
 * - `enqueue:<key>` is claimed with `{ id, hash, at }`. Exactly one request wins: it records the job,
 *   sends it, then adds 1 to the counter `enqueue:<key>:sent`. A failed send releases the claim (the
 *   caller may try again) and rejects.
 * - A repeat loses the claim and learns the winner's value. Another body hash → IdempotencyConflictError
 *   (409). Same body and the sent counter above 0 → the first job's id, nothing sent.
 * - Same body but not marked sent: the winner is still sending, or crashed between claim and send. Within
 *   `graceMs` of the claim → IdempotencyConflictError with `inProgress` (409, retry shortly): the repeat
 *   never reports a job that may not have been sent. After it, one repeat (the winner of
 *   `enqueue:<key>:takeover`) records and sends the job itself, under the first id, and marks it sent.
 *   If the first request was only slow, not dead, the job is sent twice under one id: at-least-once
 *   delivery, and the ledger acks the second copy once the job has finished.
 */
export async function enqueueOnce(store: JobStore, req: OnceRequest): Promise<OnceResult> {
  const claimKey = `enqueue:${req.key}`
  const sentKey = `${claimKey}:sent`
  const mine: ClaimValue = { id: req.envelope.id, hash: req.hash, at: req.now }
  const mineText = JSON.stringify(mine)
  const claim = await store.claim(claimKey, mineText, req.ttlMs)
  if (claim.won) {
    if (req.record) await store.create(req.record)
    try {
      await req.send(req.envelope)
    } catch (err) {
      req.onSendFailed(req.envelope.id, err)
      await store.release(claimKey, mineText).catch(() => {})
      throw err
    }
    await store.add(sentKey, 1, req.ttlMs)
    return { id: mine.id, duplicate: false, enqueuedAt: mine.at }
  }
  const first = parseClaim(claim.value)
  if (!first || first.hash !== req.hash) {
    throw new IdempotencyConflictError(
      req.key,
      `idempotency key "${req.key}" was already used with a different request body`,
    )
  }
  if ((await store.add(sentKey, 0, req.ttlMs)) > 0)
    return { id: first.id, duplicate: true, enqueuedAt: first.at }
  const inProgress = () =>
    new IdempotencyConflictError(
      req.key,
      `the first request with idempotency key "${req.key}" is still being enqueued; retry shortly`,
      { inProgress: true },
    )
  if (req.now - first.at < (req.graceMs ?? DEFAULT_SEND_GRACE_MS)) throw inProgress()
  const takeover = await store.claim(`${claimKey}:takeover`, mineText, req.ttlMs)
  if (!takeover.won) {
    if ((await store.add(sentKey, 0, req.ttlMs)) > 0)
      return { id: first.id, duplicate: true, enqueuedAt: first.at }
    throw inProgress()
  }
  if (req.record) await store.create({ ...req.record, id: first.id })
  try {
    await req.send({ ...req.envelope, id: first.id })
  } catch (err) {
    await store.release(`${claimKey}:takeover`, mineText).catch(() => {})
    throw err
  }
  await store.add(sentKey, 1, req.ttlMs)
  return { id: first.id, duplicate: false, enqueuedAt: first.at }
}

function parseClaim(text: string): ClaimValue | undefined {
  try {
    const value = JSON.parse(text) as Partial<ClaimValue>
    if (typeof value.id === 'string' && typeof value.hash === 'string' && typeof value.at === 'number')
      return value as ClaimValue
  } catch {}
  return undefined
}
