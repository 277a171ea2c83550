import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { JobLedger } from '../../../ledger/ledger.ts'
import { JobStatusSchema, JobView, jobView } from '../../../ledger/view.ts'
import type { JobRecord } from '../../../store/job-store.ts'
import { ErrorBody, sendError } from '../errors.ts'

const MAX_DELAY_MS = 30 * 24 * 3600 * 1000

export const EnqueueBody = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 200 }),
    payload: Type.Unknown(),
    delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_DELAY_MS })),
  },
  { additionalProperties: false },
)

const Accepted = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: Type.Enum(['queued', 'delayed']),
  statusUrl: Type.String(),
})

const EnqueueHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'A repeat with the same key and body within 24 h gets the same 202 and enqueues nothing; another body is a 409.',
    }),
  ),
})

export const JobId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) })
export const Cursor = Type.String({ maxLength: 1024 })

const ListQuery = Type.Object(
  {
    status: Type.Optional(JobStatusSchema),
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
)

export const JobPageView = Type.Object({
  items: Type.Array(JobView),
  nextCursor: Type.Optional(Type.String()),
})

const CancelAccepted = Type.Object({
  id: Type.String(),
  /** `cancelled` when it had not started; `running` (with cancelRequested) while the worker stops it. */
  status: Type.Enum(['cancelled', 'running']),
  cancelRequested: Type.Optional(Type.Boolean()),
})

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody, 503: ErrorBody }

/** The record, if `request`'s user may see it: its owner, or an admin. Anyone else: as if there were none. */
export async function visibleRecord(
  ledger: JobLedger,
  request: FastifyRequest,
  id: string,
): Promise<JobRecord | undefined> {
  const record = await ledger.store.get(id)
  if (!record) return undefined
  if (request.user.role === 'admin' || (record.owner !== undefined && record.owner === request.user.sub))
    return record
  return undefined
}

/**
 * /v1/jobs: enqueue a job of a type that declares itself publishable, then follow it (status, progress,
 * result), list your jobs and cancel them. Users see only the jobs they enqueued; admins see all.
 */
export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/jobs',
    {
      schema: {
        summary: 'Enqueue a job of a type that is publishable over HTTP; follow it at statusUrl',
        body: EnqueueBody,
        headers: EnqueueHeaders,
        response: {
          202: Accepted,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          409: ErrorBody,
          429: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { registry, producer } = app.conveyor
      const { type, payload, delayMs } = request.body
      const job = registry.get(type)
      if (!job) return sendError(reply, 400, `unknown job type "${type}"`)
      if (!job.publishable) return sendError(reply, 403, `job type "${type}" cannot be enqueued over HTTP`)
      const key = request.headers['idempotency-key']
      if (key !== undefined && !producer.ledger)
        return sendError(reply, 400, 'Idempotency-Key needs a job store, and this deployment has none')
      const options = {
        owner: request.user.sub,
        ...(delayMs ? { delayMs } : {}),
        // Keys are per user: two users' "abc" are two keys.
        ...(key !== undefined ? { key: `user:${request.user.sub.length}:${request.user.sub}:${key}` } : {}),
      }
      // The producer checks the payload against the job's schema (InvalidPayloadError is a 400).
      const envelope = await producer.enqueue(job, payload as never, options)
      const statusUrl = `/v1/jobs/${envelope.id}`
      return reply
        .code(202)
        .header('location', statusUrl)
        .send({ id: envelope.id, type, status: delayMs ? 'delayed' : 'queued', statusUrl })
    },
  )

  const ledger = app.conveyor.ledger
  if (!ledger) return

  app.get(
    '/jobs/:id',
    {
      schema: {
        summary: "A job's record: status, attempts, progress, result or error",
        params: JobId,
        response: { 200: JobView, ...errors },
      },
    },
    async (request, reply) => {
      const record = await visibleRecord(ledger, request, request.params.id)
      if (!record) return sendError(reply, 404, `no job ${request.params.id}`)
      return jobView(record)
    },
  )

  app.get(
    '/jobs',
    {
      schema: {
        summary: 'Your jobs, newest first',
        querystring: ListQuery,
        response: { 200: JobPageView, ...errors },
      },
    },
    async (request) => {
      const { status, type, limit, cursor } = request.query
      const page = await ledger.store.list({
        owner: request.user.sub,
        limit,
        ...(status ? { status } : {}),
        ...(type ? { type } : {}),
        ...(cursor ? { cursor } : {}),
      })
      return { items: page.items.map(jobView), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }
    },
  )

  app.post(
    '/jobs/:id/cancel',
    {
      schema: {
        summary:
          'Cancel a job: one that has not started never runs; a running one has its AbortSignal fired. 409 once finished',
        params: JobId,
        response: { 202: CancelAccepted, 409: ErrorBody, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const record = await visibleRecord(ledger, request, id)
      if (!record) return sendError(reply, 404, `no job ${id}`)
      const outcome = await ledger.store.requestCancel(id)
      switch (outcome) {
        case 'cancelled':
          return reply.code(202).send({ id, status: 'cancelled' })
        case 'requested':
          return reply.code(202).send({ id, status: 'running', cancelRequested: true })
        case 'finished': {
          const now = await ledger.store.get(id)
          return sendError(reply, 409, `job ${id} already finished (${now?.status ?? record.status})`)
        }
        default:
          return sendError(reply, 404, `no job ${id}`)
      }
    },
  )
}
