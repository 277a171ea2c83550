import { type DocumentData, FieldValue, Timestamp } from '@google-cloud/firestore'
import type { JobRecord } from '../../src/store/job-store.ts'
import type { Patch } from '../../src/store/records.ts'
import { FIRESTORE_TTL_FIELD } from './resources.ts'

/**
 * How a job record is stored in Firestore: its fields, plus `step` (its rank inside the run),
 * `resultJson` (the result as JSON text: Firestore cannot store every JSON value, e.g. nested arrays)
 * and `expireAt` (a Timestamp for the TTL policy) instead of `expiresAt`.
 */
export function toDocument(record: JobRecord, step: number): DocumentData {
  const { result, expiresAt, ...rest } = record
  return {
    ...rest,
    step,
    [FIRESTORE_TTL_FIELD]: Timestamp.fromMillis(expiresAt),
    ...(result === undefined ? {} : { resultJson: JSON.stringify(result) }),
  }
}

export function fromDocument(data: DocumentData): JobRecord {
  const { step: _step, resultJson, [FIRESTORE_TTL_FIELD]: expireAt, ...rest } = data
  const record = { ...rest, expiresAt: (expireAt as Timestamp).toMillis() } as JobRecord
  if (typeof resultJson === 'string') record.result = JSON.parse(resultJson)
  return record
}

/** The update a patch makes: set fields, delete removed ones, the new step. */
export function patchUpdate(patch: Patch, resultJson?: string): DocumentData {
  const update: DocumentData = { step: patch.step }
  for (const field of patch.remove) update[field === 'result' ? 'resultJson' : field] = FieldValue.delete()
  for (const [field, value] of Object.entries(patch.set)) {
    if (value === undefined) continue
    if (field === 'expiresAt') update[FIRESTORE_TTL_FIELD] = Timestamp.fromMillis(value as number)
    else update[field] = value
  }
  if (resultJson !== undefined) update.resultJson = resultJson
  return update
}

/** Whether a stored document is past its expiry (then it counts as absent, deleted or not). */
export function isExpired(data: DocumentData | undefined, now: number): boolean {
  const expireAt = data?.[FIRESTORE_TTL_FIELD] as Timestamp | undefined
  return expireAt !== undefined && expireAt.toMillis() <= now
}

/** A document id for any key (ids cannot contain `/` or be `.`/`..`). */
export function docId(key: string): string {
  return encodeURIComponent(key).replaceAll('.', '%2E')
}
