import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { deadLetters, overview, redrive } from '../../admin.ts'
import { ErrorBody, sendError } from '../errors.ts'

const QueueName = Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9_-]{1,70}$' }) })
const Stat = Type.Union([Type.Integer(), Type.Null()])
const DeadLetterItem = Type.Object({
  id: Type.String(),
  type: Type.Optional(Type.String()),
  code: Type.String(),
  message: Type.String(),
  error: Type.Optional(Type.String()),
  reason: Type.String(),
  attempts: Type.Integer(),
  at: Type.String(),
  payload: Type.Optional(Type.Unknown()),
  body: Type.Optional(Type.String()),
})
const errors = { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody }

/**
 * /v1/admin: queue depths, dead letters and redrive, throughput and schedules, for tokens with `role: "admin"` (403 otherwise).
 * The dashboard at /dashboard and the CLI show the same (src/service/admin.ts).
 */
export const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('preHandler', async (request, reply) => {
    if (request.user.role !== 'admin')
      return sendError(reply, 403, 'this route needs a token with role "admin"')
  })
  const known = () => new Set(app.conveyor.registry.queues())

  app.get(
    '/admin/queues',
    {
      schema: {
        summary: 'Every queue the registered jobs use, with its depth',
        response: {
          200: Type.Object({
            driver: Type.String(),
            queues: Type.Array(
              Type.Object({
                name: Type.String(),
                ready: Stat,
                inFlight: Stat,
                delayed: Stat,
                deadLettered: Stat,
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async () => ({
      driver: app.conveyor.queue.driver,
      queues: await overview(app.conveyor.queue, [...known()]),
    }),
  )

  app.get(
    '/admin/queues/:name/dead-letters',
    {
      schema: {
        summary: "A queue's dead letters, oldest first, with why each one failed",
        params: QueueName,
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) }),
        response: { 200: Type.Object({ items: Type.Array(DeadLetterItem) }), ...errors },
      },
    },
    async (request, reply) => {
      if (!known().has(request.params.name)) return sendError(reply, 404, `no queue ${request.params.name}`)
      return { items: await deadLetters(app.conveyor.queue, request.params.name, request.query.limit) }
    },
  )

  app.post(
    '/admin/queues/:name/redrive',
    {
      schema: {
        summary: 'Move dead letters back to the queue with fresh attempts (all, or the given ids)',
        params: QueueName,
        body: Type.Optional(
          Type.Object(
            { ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })) },
            { additionalProperties: false },
          ),
        ),
        response: { 200: Type.Object({ moved: Type.Integer() }), ...errors },
      },
    },
    async (request, reply) => {
      if (!known().has(request.params.name)) return sendError(reply, 404, `no queue ${request.params.name}`)
      return { moved: await redrive(app.conveyor.queue, request.params.name, request.body?.ids) }
    },
  )

  app.get(
    '/admin/throughput',
    {
      schema: {
        summary:
          'Finished attempts per minute over the last hour, oldest first (counted by this process: with separate worker processes, each counts its own)',
        response: {
          200: Type.Object({
            scope: Type.Literal('process'),
            minutes: Type.Array(
              Type.Object({
                at: Type.String(),
                completed: Type.Integer(),
                retried: Type.Integer(),
                deadLettered: Type.Integer(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async () => ({ scope: 'process' as const, minutes: app.conveyor.metrics.throughput.lastMinutes() }),
  )

  const ScheduleItem = Type.Object({
    name: Type.String(),
    cron: Type.String(),
    job: Type.String(),
    overlap: Type.Union([Type.Literal('skip'), Type.Literal('allow')]),
    catchUp: Type.Union([Type.Literal('none'), Type.Literal('latest')]),
    nextRunAt: Type.Union([Type.String(), Type.Null()]),
  })
  app.get(
    '/admin/schedules',
    {
      schema: {
        summary:
          'The cron schedules (UTC) with their overlap and catch-up policies and next run, soonest first',
        response: { 200: Type.Object({ items: Type.Array(ScheduleItem) }), ...errors },
      },
    },
    async () => ({ items: app.conveyor.scheduler?.list() ?? [] }),
  )
  app.post(
    '/admin/schedules/:name/run',
    {
      schema: {
        summary: 'Run a schedule now: enqueue its job once, whatever its cron and overlap policy',
        params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: {
          202: Type.Object({ id: Type.String(), schedule: Type.String(), statusUrl: Type.String() }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      const id = await app.conveyor.scheduler?.run(name)
      if (!id) return sendError(reply, 404, `no schedule ${name}`)
      return reply
        .code(202)
        .header('location', `/v1/jobs/${id}`)
        .send({ id, schedule: name, statusUrl: `/v1/jobs/${id}` })
    },
  )
}
