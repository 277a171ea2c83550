import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { OutboxMailer } from '../../mail/outbox.ts'
import { ErrorBody, sendError } from '../errors.ts'

/**
 * Development only: GET /dev/outbox lists the emails the outbox mailer wrote, newest first;
 * GET /dev/outbox/:id shows one as HTML, /dev/outbox/:id.eml as the raw MIME message.
 */
export function devOutboxRoutes(outbox: OutboxMailer): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/dev/outbox', { schema: { summary: 'Emails in the development outbox' } }, async () => ({
      items: (await outbox.list()).map((entry) => ({
        ...entry,
        html: `/dev/outbox/${entry.id}`,
        eml: `/dev/outbox/${entry.id}.eml`,
      })),
    }))

    app.get(
      '/dev/outbox/:file',
      {
        schema: {
          summary: 'One email from the development outbox',
          params: Type.Object({ file: Type.String({ maxLength: 64 }) }),
          response: { 200: Type.Unknown({ description: 'text/html or message/rfc822' }), 404: ErrorBody },
        },
      },
      async (request, reply) => {
        const { file } = request.params
        const raw = file.endsWith('.eml')
        const body = await outbox.read(raw ? file.slice(0, -4) : file, raw ? 'eml' : 'html')
        if (body === undefined) return sendError(reply, 404, `no email ${file} in the outbox`)
        return reply.type(raw ? 'message/rfc822' : 'text/html; charset=utf-8').send(body)
      },
    )
  }
}
