import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { csvExport } from '../../../../handlers/exports/csv.ts'
import type { ExportKind } from '../../../../handlers/exports/kind.ts'
import { ErrorBody, sendError } from '../errors.ts'

/** Rows the direct CSV route streams at most; bigger exports go through POST /v1/exports. */
export const DIRECT_CSV_MAX_ROWS = 100_000

const Query = Type.Object(
  {
    from: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' })),
    to: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' })),
  },
  { additionalProperties: false },
)

/** GET /v1/activities/export.csv: the CSV streamed straight away, no job (for small exports). */
export function activityRoutes(kind: ExportKind): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/activities/export.csv',
      {
        schema: {
          summary:
            'Your activities as CSV, streamed now (one a day between from and to; default the last 30 days)',
          querystring: Query,
          response: {
            200: Type.Unknown({ description: 'text/csv, streamed' }),
            400: ErrorBody,
            401: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const params = request.query
        const problems = kind.validate(params)
        if (problems.length > 0) return sendError(reply, 400, problems.join('; '))
        const rows = kind.countRows?.(request.user.sub, params) ?? 0
        if (rows > DIRECT_CSV_MAX_ROWS) {
          return sendError(
            reply,
            400,
            `this period has ${rows} rows; the direct CSV route streams at most ${DIRECT_CSV_MAX_ROWS}: use POST /v1/exports`,
          )
        }
        // Stop producing rows when the client goes away.
        const abort = new AbortController()
        reply.raw.on('close', () => abort.abort())
        const csv = csvExport(kind.columns, kind.rows(request.user.sub, params, abort.signal))
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${kind.name}.csv"`)
          .header('cache-control', 'private, no-store')
          .send(csv.stream)
      },
    )
  }
}
