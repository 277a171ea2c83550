import Type, { type Static } from 'typebox'
import type { JobRecord, JobStatus } from '../store/job-store.ts'
import { isResultDropped } from './ledger.ts'

export const JOB_STATUSES: readonly JobStatus[] = [
  'queued',
  'delayed',
  'running',
  'retrying',
  'succeeded',
  'failed',
  'cancelled',
]

export const JobStatusSchema = Type.Enum([...JOB_STATUSES])

/** A job record as the API and the CLI show it: times as ISO 8601, no internal fields. */
export const JobView = Type.Object({
  id: Type.String(),
  type: Type.String(),
  queue: Type.String(),
  owner: Type.Optional(Type.String()),
  status: JobStatusSchema,
  /** Handler runs so far. */
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  startedAt: Type.Optional(Type.String()),
  finishedAt: Type.Optional(Type.String()),
  /** When a delayed job, or the next retry, is due. */
  runAt: Type.Optional(Type.String()),
  /** When the record will be forgotten. */
  expiresAt: Type.String(),
  progress: Type.Optional(Type.Object({ percent: Type.Number(), message: Type.Optional(Type.String()) })),
  /** The handler's resolved value. */
  result: Type.Optional(Type.Unknown()),
  /**
   * Why it failed (or is retrying); on a succeeded job, why its result was not kept
   * (`RESULT_TOO_LARGE`, `RESULT_NOT_JSON`).
   */
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  /** A cancel was asked for while it ran; the worker holding it stops it. */
  cancelRequested: Type.Optional(Type.Boolean()),
})

export type JobViewT = Static<typeof JobView>

const iso = (ms: number) => new Date(ms).toISOString()

export function jobView(record: JobRecord): JobViewT {
  const view: JobViewT = {
    id: record.id,
    type: record.type,
    queue: record.queue,
    status: record.status,
    attempts: record.attempts,
    maxAttempts: record.maxAttempts,
    createdAt: iso(record.createdAt),
    updatedAt: iso(record.updatedAt),
    expiresAt: iso(record.expiresAt),
  }
  if (record.owner !== undefined) view.owner = record.owner
  if (record.startedAt !== undefined) view.startedAt = iso(record.startedAt)
  if (record.finishedAt !== undefined) view.finishedAt = iso(record.finishedAt)
  if (record.runAt !== undefined) view.runAt = iso(record.runAt)
  if (record.progress) view.progress = record.progress
  if (isResultDropped(record.result))
    view.error = { code: record.result.code, message: record.result.message }
  else if (record.result !== undefined) view.result = record.result
  if (record.error) view.error = record.error
  if (record.cancelRequested) view.cancelRequested = true
  return view
}
