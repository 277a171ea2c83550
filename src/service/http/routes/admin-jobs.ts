import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { JobStatusSchema, JobView, jobView } from '../../../ledger/view.ts'
import { redrive } from '../../admin.ts'
import { ErrorBody, sendError } from '../errors.ts'
import { Cursor, JobId, JobPageView } from './jobs.ts'

const ListQuery = Type.Object(
  {
    status: Type.Optional(JobStatusSchema),
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    queue: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,70}$' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
)

const Counts = Type.Object({
  /** Per queue, per status; statuses with no jobs are left out. May be approximate on remote stores. */
  queues: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer())),
})

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody }

/**
 * /v1/admin/jobs: every owner's job records, counts by status and retrying a failed job, for tokens with
 * `role: "admin"` (403 otherwise). Registered only when the deployment has a job store.
 */
export const adminJobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ledger = app.conveyor.ledger
  if (!ledger) return
  app.addHook('preHandler', async (request, reply) => {
    if (request.user.role !== 'admin')
      return sendError(reply, 403, 'this route needs a token with role "admin"')
  })

  app.get(
    '/admin/jobs',
    {
      schema: {
        summary: 'Job records of every owner, newest first, filtered by status, type and queue',
        querystring: ListQuery,
        response: { 200: JobPageView, ...errors },
      },
    },
    async (request) => {
      const { status, type, queue, limit, cursor } = request.query
      const page = await ledger.store.list({
        limit,
        ...(status ? { status } : {}),
        ...(type ? { type } : {}),
        ...(queue ? { queue } : {}),
        ...(cursor ? { cursor } : {}),
      })
      return { items: page.items.map(jobView), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }
    },
  )

  app.get(
    '/admin/jobs/counts',
    {
      schema: {
        summary: 'How many job records there are per queue and status',
        response: { 200: Counts, ...errors },
      },
    },
    async () => ({ queues: (await ledger.store.countByStatus()) as Record<string, Record<string, number>> }),
  )

  app.post(
    '/admin/jobs/:id/retry',
    {
      schema: {
        summary:
          'Run a failed (dead-lettered) job again: its record starts a new run and its dead letter goes back to the queue. 409 unless it failed',
        params: JobId,
        response: { 202: JobView, 409: ErrorBody, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const record = await ledger.store.get(id)
      if (!record) return sendError(reply, 404, `no job ${id}`)
      if (record.status !== 'failed')
        return sendError(reply, 409, `job ${id} is ${record.status}; only a failed job can be retried`)
      // Reopen first: a redriven message that ran before the reopen would find a finished record and be acked.
      if (!(await ledger.store.reopen(id)))
        return sendError(reply, 409, `job ${id} is no longer finished; only a failed job can be retried`)
      const moved = await redrive(app.conveyor.queue, record.queue, [id])
      if (moved === 0) {
        await ledger.store.transition(id, {
          status: 'failed',
          attempt: 0,
          error: {
            code: 'RETRY_FAILED',
            message: `no dead letter of job ${id} in queue ${record.queue} to run again (it may have expired)`,
          },
        })
        return sendError(
          reply,
          409,
          `no dead letter of job ${id} in queue ${record.queue}; nothing was retried`,
        )
      }
      const now = await ledger.store.get(id)
      return reply.code(202).send(jobView(now ?? record))
    },
  )
}
