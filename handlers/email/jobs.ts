import Type from 'typebox'
import { defineJob } from '../../src/job.ts'
import { activitiesKind } from '../exports/activities.ts'
import { formatNumber } from '../exports/format.ts'
import type { ExportService } from '../exports/service.ts'
import type { EmailSender } from './sender.ts'
import { midSentence } from './templates.ts'

const DAY_MS = 86_400_000
/** An address without display name, spaces or list separators (one recipient per email). */
export const EmailAddress = Type.String({
  pattern: '^[^\\s@<>,;"]+@[^\\s@<>,;"]+$',
  maxLength: 254,
  errorMessage: 'must be an email address',
})
const Name = Type.String({ minLength: 1, maxLength: 100 })

/** `email.welcome`: the welcome email. Publishable over HTTP (POST /v1/jobs). */
export function welcomeEmailJob(email: EmailSender) {
  return defineJob({
    type: 'email.welcome',
    queue: 'emails',
    schema: Type.Object({ to: EmailAddress, name: Name }, { additionalProperties: false }),
    timeoutMs: 30_000,
    maxAttempts: 5,
    publishable: true,
    async handle({ to, name }, { signal, log }) {
      const sent = await email.send('welcome', to, { name }, signal)
      log.info({ messageId: sent.messageId }, 'welcome email sent')
    },
  })
}

/** `email.weekly-summary`: last week's activities for `owner` (default: the week before `weekStart`'s). */
export function weeklySummaryEmailJob(email: EmailSender) {
  return defineJob({
    type: 'email.weekly-summary',
    queue: 'emails',
    schema: Type.Object(
      {
        to: EmailAddress,
        name: Name,
        owner: Type.String({ minLength: 1 }),
        /** Monday the week starts, YYYY-MM-DD. Default: last week's Monday. */
        weekStart: Type.Optional(
          Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', errorMessage: 'must be YYYY-MM-DD' }),
        ),
      },
      { additionalProperties: false },
    ),
    timeoutMs: 60_000,
    maxAttempts: 5,
    async handle({ to, name, owner, weekStart }, { signal, log }) {
      const fromMs = weekStart ? Date.parse(`${weekStart}T00:00:00Z`) : lastMonday(Date.now())
      const params = {
        from: new Date(fromMs).toISOString().slice(0, 10),
        to: new Date(fromMs + 6 * DAY_MS).toISOString().slice(0, 10),
      }
      const rows: (readonly unknown[])[] = []
      for await (const row of activitiesKind.rows(owner, params, signal)) rows.push(row)
      const longest = rows.reduce<readonly unknown[] | undefined>(
        (best, row) => (!best || (row[2] as number) > (best[2] as number) ? row : best),
        undefined,
      )
      const sent = await email.send(
        'weekly-summary',
        to,
        {
          name,
          period: `${params.from} to ${params.to}`,
          figures: activitiesKind.summarize!(rows),
          ...(longest
            ? {
                longest: {
                  date: String(longest[0]).slice(0, 10),
                  type: String(longest[1]),
                  minutes: longest[2] as number,
                  notes: String(longest[5]),
                },
              }
            : {}),
        },
        signal,
      )
      log.info({ messageId: sent.messageId, activities: rows.length }, 'weekly summary sent')
    },
  })
}

function lastMonday(now: number): number {
  const today = Math.floor(now / DAY_MS) * DAY_MS
  const weekday = (new Date(today).getUTCDay() + 6) % 7 // Monday 0
  return today - (weekday + 7) * DAY_MS
}

/** `email.export-ready`: tells the owner their export is ready, with a link that expires with it. */
export function exportReadyEmailJob(email: EmailSender, exports: ExportService) {
  return defineJob({
    type: 'email.export-ready',
    queue: 'emails',
    schema: Type.Object({
      owner: Type.String({ minLength: 1 }),
      exportId: Type.String({ minLength: 36, maxLength: 36 }),
    }),
    timeoutMs: 30_000,
    maxAttempts: 5,
    async handle({ owner, exportId }, { signal, log }) {
      const record = await exports.records.get(owner, exportId)
      if (!record?.notifyEmail || !record.expiresAt || exports.statusOf(record) !== 'completed') {
        return log.info('export is gone, expired or has no address; no email')
      }
      const kind = exports.kinds.get(record.kind)
      const sent = await email.send(
        'export-ready',
        record.notifyEmail,
        {
          kind: midSentence(kind?.title ?? record.kind),
          rows: `${formatNumber(record.rows ?? 0)} ${record.rows === 1 ? 'row' : 'rows'}`,
          size: formatBytes(record.bytes ?? 0),
          format: record.format.toUpperCase(),
          link: exports.links.url({ owner, exportId }, new Date(record.expiresAt)),
          expiresAt: `${record.expiresAt.slice(0, 16).replace('T', ' ')} UTC`,
        },
        signal,
      )
      log.info({ messageId: sent.messageId }, 'export-ready email sent')
    },
  })
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
