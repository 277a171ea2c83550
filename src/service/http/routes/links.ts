import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { ExportService } from '../../../../handlers/exports/service.ts'
import { ErrorBody, sendError } from '../errors.ts'
import { sendDownload } from './exports.ts'

/**
 * GET /links/exports/:token: the download link in "export ready" emails. No bearer token (an email
 * client has none): the signed token names the owner and export and expires with the export.
 */
export function linkRoutes(exports: ExportService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/links/exports/:token',
      {
        schema: {
          summary: 'Download an export through the signed link from its email',
          params: Type.Object({ token: Type.String({ maxLength: 2048 }) }),
          response: { 404: ErrorBody, 409: ErrorBody, 410: ErrorBody },
        },
      },
      async (request, reply) => {
        let target: { owner: string; exportId: string }
        try {
          target = exports.links.verify(request.params.token)
        } catch (err) {
          if ((err as { code?: string }).code === 'FAST_JWT_EXPIRED') {
            return sendError(reply, 410, 'this download link has expired, and so has its export')
          }
          return sendError(reply, 404, 'this download link is not valid')
        }
        return sendDownload(reply, await exports.download(target.owner, target.exportId), target.exportId)
      },
    )
  }
}
