import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
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

const Accepted = Type.Object({ id: Type.String(), type: Type.String() })

/** POST /v1/jobs: enqueue a job of a type that declares itself publishable over HTTP. */
export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/jobs',
    {
      schema: {
        summary: 'Enqueue a job of a type that is publishable over HTTP',
        body: EnqueueBody,
        response: {
          202: Accepted,
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
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
      // The producer checks the payload against the job's schema (InvalidPayloadError is a 400).
      const envelope = await producer.enqueue(job, payload as never, delayMs ? { delayMs } : {})
      return reply.code(202).send({ id: envelope.id, type })
    },
  )
}
