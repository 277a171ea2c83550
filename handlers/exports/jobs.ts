import Type from 'typebox'
import { NonRetryableError } from '../../src/errors.ts'
import { defineJob, type JobContext } from '../../src/job.ts'
import type { Producer } from '../../src/producer.ts'
import { csvExport } from './csv.ts'
import type { ExportKind } from './kind.ts'
import { renderPdfInThread } from './pdf-thread.ts'
import { type ExportRecord, fileKey, fileName } from './records.ts'
import { CONTENT_TYPES, type ExportService, STALE_AFTER_MS } from './service.ts'

const ExportRef = Type.Object({
  owner: Type.String({ minLength: 1 }),
  exportId: Type.String({ minLength: 36, maxLength: 36 }),
})

/**
 * `exports.build`: queued → running → completed (file stored, owner emailed) or failed. Safe to run
 * twice (delivery is at least once): a finished export is left alone, except that a missing "ready"
 * email is still sent; an export deleted meanwhile is dropped with its file; a failed one is built
 * again only when its job is redriven from the dead-letter queue.
 */
export function exportBuildJob(exports: ExportService, producer: Producer) {
  return defineJob({
    type: 'exports.build',
    queue: 'exports',
    schema: ExportRef,
    timeoutMs: 15 * 60_000,
    maxAttempts: 3,
    backoff: { baseMs: 5_000, maxMs: 60_000 },
    async handle({ owner, exportId }, ctx) {
      let record = await exports.records.get(owner, exportId)
      if (!record) {
        await exports.release({ owner, id: exportId }) // deleting it gave the slot back; make sure
        return ctx.log.info('export was deleted before it was built')
      }
      // A failed export is final, unless its job starts afresh (attempt 1): an operator redrove it.
      if (record.status === 'failed' && ctx.attempt > 1) return
      if (record.status !== 'completed') {
        const kind = exports.kinds.get(record.kind)
        if (!kind) throw new NonRetryableError(`unknown export kind "${record.kind}"`)
        const { error: _error, expiresAt: _expiresAt, ...unfinished } = record
        record = await save(exports, { ...unfinished, status: 'running' })
        try {
          const built = await build(exports, kind, record, ctx)
          // Deleted while it ran: drop the file rather than bring the record back.
          if (!(await exports.records.get(owner, exportId))) {
            await exports.store.delete(fileKey(record))
            await exports.release(record)
            return ctx.log.info('export was deleted while it was built; file removed')
          }
          const completedAt = new Date(exports.clock.now())
          record = await save(exports, {
            ...record,
            status: 'completed',
            completedAt: completedAt.toISOString(),
            expiresAt: new Date(completedAt.getTime() + exports.ttlMs).toISOString(),
            ...built,
          })
          await exports.release(record)
          ctx.log.info({ rows: built.rows, bytes: built.bytes, format: record.format }, 'export completed')
        } catch (err) {
          const final = err instanceof NonRetryableError || ctx.attempt >= ctx.maxAttempts
          if (final) await fail(exports, record, err)
          throw err
        }
      }
      if (record.notifyEmail && !record.notified) {
        await producer.enqueue('email.export-ready', { owner, exportId })
        // Not if it was deleted meanwhile: that would bring back a record without a file.
        if (await exports.records.get(owner, exportId)) await save(exports, { ...record, notified: true })
      }
    },
  })
}

async function build(
  exports: ExportService,
  kind: ExportKind,
  record: ExportRecord,
  { signal }: JobContext,
): Promise<{ rows: number; bytes: number }> {
  const key = fileKey(record)
  // Stored with the object too: S3 serves it even where a presigned URL's override is ignored.
  const put = (format: 'csv' | 'pdf') => ({ contentType: CONTENT_TYPES[format], fileName: fileName(record) })
  const rows = kind.rows(record.owner, record.params, signal)
  if (record.format === 'csv') {
    const csv = csvExport(kind.columns, rows)
    const bytes = await exports.store.put(key, csv.stream, put('csv'))
    return { rows: csv.rows, bytes }
  }
  const collected: (readonly unknown[])[] = []
  for await (const row of rows) {
    if (collected.length === exports.pdfMaxRows) {
      throw new NonRetryableError(
        exports.pdfTooLarge(collected.length + 1).replace(/would have \d+/, 'has more'),
      )
    }
    collected.push(row)
  }
  const pdf = await renderPdfInThread(
    {
      title: kind.title,
      owner: record.owner,
      period: kind.describe?.(record.params),
      generatedAt: new Date(exports.clock.now()),
      columns: kind.columns,
      rows: collected,
      summary: kind.summarize?.(collected) ?? [],
      brand: exports.brand,
    },
    signal,
  )
  const bytes = await exports.store.put(key, pdf, put('pdf'))
  return { rows: collected.length, bytes }
}

async function save(exports: ExportService, record: ExportRecord): Promise<ExportRecord> {
  const next = { ...record, updatedAt: new Date(exports.clock.now()).toISOString() }
  await exports.records.put(next)
  return next
}

async function fail(exports: ExportService, record: ExportRecord, err: unknown): Promise<void> {
  const failedAt = exports.clock.now()
  await save(exports, {
    ...record,
    status: 'failed',
    error: err instanceof Error ? err.message : String(err),
    // A failed export's record goes with the cleanup job too.
    expiresAt: new Date(failedAt + exports.ttlMs).toISOString(),
  })
  await exports.release(record)
}

/**
 * `exports.cleanup` (scheduled hourly): deletes expired exports, files and records, and marks exports
 * stuck in queued/running for over a day as failed. Idempotent, so several workers may run it.
 */
export function exportCleanupJob(exports: ExportService) {
  return defineJob({
    type: 'exports.cleanup',
    queue: 'exports',
    schema: Type.Object({}, { additionalProperties: false }),
    timeoutMs: 10 * 60_000,
    maxAttempts: 3,
    async handle(_payload, { log, signal }) {
      let deleted = 0
      let failed = 0
      const now = exports.clock.now()
      for await (const record of exports.records.all()) {
        signal.throwIfAborted()
        if (exports.statusOf(record) === 'expired') {
          await exports.records.delete(record)
          deleted++
        } else if (
          (record.status === 'queued' || record.status === 'running') &&
          now - Date.parse(record.updatedAt) > STALE_AFTER_MS
        ) {
          await fail(exports, record, new Error('the export did not finish within 24 hours'))
          failed++
        }
      }
      log.info({ deleted, failed }, 'export cleanup done')
      return { deleted, failed }
    },
  })
}

/**
 * Marks every export still `queued` or `running` as failed, saying why; resolves to how many. For the
 * start of a process on the memory queue: its jobs died with the previous process, so such exports
 * would never finish and would count against their owner's cap until the cleanup a day later.
 */
export async function failInterruptedExports(exports: ExportService): Promise<number> {
  let failed = 0
  for await (const record of exports.records.all()) {
    if (record.status !== 'queued' && record.status !== 'running') continue
    await fail(
      exports,
      record,
      new Error(
        `interrupted: the process stopped while this export was ${record.status}, and the memory queue keeps no jobs across restarts; request it again`,
      ),
    )
    failed++
  }
  return failed
}
