import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import Type from 'typebox'
import type { Download, ExportService } from '../../../../handlers/exports/service.ts'
import { ErrorBody, sendError } from '../errors.ts'

const ExportId = Type.Object({ id: Type.String({ maxLength: 64 }) })

const ExportRequestBody = Type.Object(
  {
    kind: Type.String({ minLength: 1, maxLength: 63 }),
    format: Type.Enum(['csv', 'pdf']),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
)

const ExportView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  format: Type.Enum(['csv', 'pdf']),
  status: Type.Enum(['queued', 'running', 'completed', 'failed', 'expired']),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  completedAt: Type.Optional(Type.String()),
  expiresAt: Type.Optional(Type.String()),
  rows: Type.Optional(Type.Integer()),
  bytes: Type.Optional(Type.Integer()),
  downloadUrl: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
})

const Queued = Type.Object({ id: Type.String(), status: Type.Literal('queued'), statusUrl: Type.String() })

const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody }

/** Sends a download: the file streamed, a redirect to a presigned URL, or 404 / 409 / 410. */
export function sendDownload(reply: FastifyReply, download: Download, id: string): FastifyReply {
  switch (download.status) {
    case 'not_found':
      return sendError(reply, 404, `no export ${id}`)
    case 'expired':
      return sendError(reply, 410, `export ${id} expired at ${download.record?.expiresAt}; request a new one`)
    case 'not_ready':
      return sendError(
        reply,
        409,
        `export ${id} is ${download.record?.status}; download it once it is completed`,
      )
  }
  reply.header('cache-control', 'private, no-store')
  if (download.redirect) return reply.redirect(download.redirect, 302)
  return reply
    .type(download.contentType)
    .header('content-disposition', `attachment; filename="${download.fileName}"`)
    .send(download.body)
}

/** /v1/exports: request, poll, list, download and delete exports. Users only ever see their own. */
export function exportRoutes(exports: ExportService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/exports',
      {
        schema: {
          summary: 'Request an export; poll statusUrl until it is completed',
          body: ExportRequestBody,
          response: { 202: Queued, ...errors, 503: ErrorBody },
        },
      },
      async (request, reply) => {
        const record = await exports.request(request.user.sub, request.body, request.user.email)
        const statusUrl = exports.links.statusUrl(record.id)
        return reply
          .code(202)
          .header('location', statusUrl)
          .send({ id: record.id, status: 'queued', statusUrl })
      },
    )

    app.get(
      '/exports',
      {
        schema: {
          summary: 'Your exports, newest first',
          querystring: ListQuery,
          response: {
            200: Type.Object({ items: Type.Array(ExportView), nextCursor: Type.Optional(Type.String()) }),
            ...errors,
          },
        },
      },
      async (request) => exports.list(request.user.sub, request.query.limit, request.query.cursor),
    )

    app.get(
      '/exports/:id',
      {
        schema: { summary: "An export's status", params: ExportId, response: { 200: ExportView, ...errors } },
      },
      async (request, reply) => {
        const record = await exports.records.get(request.user.sub, request.params.id)
        if (!record) return sendError(reply, 404, `no export ${request.params.id}`)
        return exports.view(record)
      },
    )

    app.get(
      '/exports/:id/download',
      {
        schema: {
          summary: 'The file (or a redirect to a short-lived S3 URL); 409 until completed, 410 once expired',
          params: ExportId,
          response: {
            200: Type.Unknown({ description: 'the file' }),
            409: ErrorBody,
            410: ErrorBody,
            ...errors,
          },
        },
      },
      async (request, reply) =>
        sendDownload(reply, await exports.download(request.user.sub, request.params.id), request.params.id),
    )

    app.delete(
      '/exports/:id',
      {
        schema: {
          summary: 'Delete an export and its file',
          params: ExportId,
          response: { 204: Type.Null({ description: 'deleted' }), ...errors },
        },
      },
      async (request, reply) => {
        if (!(await exports.remove(request.user.sub, request.params.id))) {
          return sendError(reply, 404, `no export ${request.params.id}`)
        }
        return reply.code(204).send(null)
      },
    )
  }
}
