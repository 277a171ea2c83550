import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { OutboxEntry, OutboxMailer } from '../../../mail/outbox.ts'
import { ErrorBody, sendError } from '../errors.ts'

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Whether the client asked for HTML (a browser) rather than JSON: text/html listed, and before any JSON. */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false
  const html = accept.indexOf('text/html')
  const json = accept.indexOf('application/json')
  return html !== -1 && (json === -1 || html < json)
}

function listPage(items: (OutboxEntry & { html: string; eml: string })[]): string {
  const rows = items
    .map(
      (m) =>
        `<tr><td class="t">${escapeHtml(m.createdAt.slice(0, 19).replace('T', ' '))} UTC</td>` +
        `<td>${escapeHtml(m.to.join(', '))}</td>` +
        `<td><a href="${m.html}">${escapeHtml(m.subject)}</a></td>` +
        `<td class="t"><a href="${m.html}">HTML</a> · <a href="${m.eml}">raw</a></td></tr>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Outbox (${items.length})</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1f2328; }
  h1 { font-size: 20px; margin: 0 0 4px; } p { color: #57606a; margin: 0 0 16px; }
  table { border-collapse: collapse; } th, td { text-align: left; padding: 6px 12px; border-bottom: 1px solid #d0d7de; }
  th { font-size: 12px; color: #57606a; text-transform: uppercase; } td.t { white-space: nowrap; }
  a { color: #0969da; }
</style></head>
<body>
<h1>Outbox</h1>
<p>Emails sent in development (MAIL_DRIVER=outbox), newest first. The same list as JSON: <code>Accept: application/json</code>.</p>
<table><thead><tr><th>sent</th><th>to</th><th>subject</th><th></th></tr></thead>
<tbody>
${rows || '<tr><td colspan="4">No emails yet.</td></tr>'}
</tbody></table>
</body></html>
`
}

/**
 * Development only: GET /dev/outbox lists the emails the outbox mailer wrote, newest first (an HTML
 * page when the client asks for HTML, as a browser does; JSON otherwise); GET /dev/outbox/:id shows
 * one as HTML, /dev/outbox/:id.eml as the raw MIME message.
 */
export function devOutboxRoutes(outbox: OutboxMailer): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/dev/outbox',
      { schema: { summary: 'Emails in the development outbox (HTML for browsers, else JSON)' } },
      async (request, reply) => {
        const items = (await outbox.list()).map((entry) => ({
          ...entry,
          html: `/dev/outbox/${entry.id}`,
          eml: `/dev/outbox/${entry.id}.eml`,
        }))
        reply.header('vary', 'accept')
        if (wantsHtml(request.headers.accept))
          return reply
            .type('text/html; charset=utf-8')
            .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
            .send(listPage(items))
        return { items }
      },
    )

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
