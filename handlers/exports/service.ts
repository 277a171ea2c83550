import type { Readable } from 'node:stream'
import { type Clock, systemClock } from '../../src/clock.ts'
import { InvalidPayloadError, LimitExceededError } from '../../src/errors.ts'
import { newId } from '../../src/ids.ts'
import type { Producer } from '../../src/producer.ts'
import { ObjectNotFoundError, type ObjectStore } from '../../src/storage/object-store.ts'
import type { JobStore } from '../../src/store/job-store.ts'
import type { ExportKinds } from './kind.ts'
import type { DownloadLinks } from './links.ts'
import type { PdfBrand } from './pdf.ts'
import {
  type ExportFormat,
  type ExportRecord,
  ExportRecords,
  type ExportStatus,
  fileKey,
  fileName,
} from './records.ts'
import { ExportSlots } from './slots.ts'

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  pdf: 'application/pdf',
}

export interface ExportRequest {
  kind: string
  format: ExportFormat
  params?: Record<string, unknown>
}

/** An export as clients see it (GET /v1/exports/:id): the record without its internals. */
export type ExportView = Pick<
  ExportRecord,
  | 'id'
  | 'kind'
  | 'format'
  | 'createdAt'
  | 'updatedAt'
  | 'completedAt'
  | 'expiresAt'
  | 'rows'
  | 'bytes'
  | 'error'
> & {
  status: ExportStatus
  /** Present only when completed. */
  downloadUrl?: string
}

/** What a download resolves to. */
export type Download =
  | {
      status: 'ready'
      record: ExportRecord
      fileName: string
      contentType: string
      redirect?: string
      body?: Readable
    }
  | { status: 'not_found' | 'not_ready' | 'expired'; record?: ExportRecord }

export interface ExportServiceOptions {
  store: ObjectStore
  kinds: ExportKinds
  producer: Producer
  links: DownloadLinks
  /** How long a finished export stays downloadable. */
  ttlMs: number
  pdfMaxRows: number
  maxActivePerUser: number
  /** Name and logo atop PDF reports. Default: none. */
  brand?: PdfBrand
  /**
   * Where the per-user cap's slots are claimed: the job store every API and worker process shares.
   * Default: a store private to this process (the cap then holds per process only).
   */
  claims?: JobStore
  clock?: Clock
}

/** How long an export may stay queued or running before the cleanup job calls it failed. */
export const STALE_AFTER_MS = 24 * 3600_000

/**
 * The export workflow's rules, shared by the API (request, read, list, download, delete) and the
 * worker (build, notify, clean up). State lives in the object store, so separate API and worker
 * processes see the same exports.
 */
export class ExportService {
  readonly records: ExportRecords
  readonly store: ObjectStore
  readonly kinds: ExportKinds
  readonly links: DownloadLinks
  readonly ttlMs: number
  readonly pdfMaxRows: number
  readonly brand: PdfBrand | undefined
  readonly clock: Clock
  readonly #producer: Producer
  readonly #slots: ExportSlots

  constructor(options: ExportServiceOptions) {
    this.store = options.store
    this.records = new ExportRecords(options.store)
    this.kinds = options.kinds
    this.links = options.links
    this.ttlMs = options.ttlMs
    this.pdfMaxRows = options.pdfMaxRows
    this.brand = options.brand
    this.clock = options.clock ?? systemClock
    this.#producer = options.producer
    this.#slots = new ExportSlots({
      max: options.maxActivePerUser,
      // Past a day the cleanup job fails a stuck export anyway; the hour is its margin.
      ttlMs: STALE_AFTER_MS + 3_600_000,
      isActive: async (owner, id) => {
        const record = await this.records.get(owner, id)
        return record !== undefined && (record.status === 'queued' || record.status === 'running')
      },
      clock: this.clock,
      ...(options.claims ? { store: options.claims } : {}),
    })
  }

  /**
   * Checks the request, records it as `queued` and enqueues the build job. Throws InvalidPayloadError
   * (bad kind, params, or a PDF over the row cap) or LimitExceededError (too many exports under way).
   */
  async request(owner: string, request: ExportRequest, notifyEmail?: string): Promise<ExportRecord> {
    const params = request.params ?? {}
    const kind = this.kinds.get(request.kind)
    if (!kind) {
      throw new InvalidPayloadError('export', [
        `kind: unknown export kind "${request.kind}"; known: ${this.kinds.names().join(', ')}`,
      ])
    }
    const problems = kind.validate(params)
    if (problems.length > 0) throw new InvalidPayloadError('export', problems)
    const rows = kind.countRows?.(owner, params)
    if (request.format === 'pdf' && rows !== undefined && rows > this.pdfMaxRows) {
      throw new InvalidPayloadError('export', [this.pdfTooLarge(rows)])
    }
    const id = newId()
    const slot = await this.#slots.take(owner, id)
    if (slot === undefined) {
      throw new LimitExceededError(
        `you already have ${this.#slots.max} exports queued or running (at most ${this.#slots.max}); wait for one to finish`,
      )
    }
    const now = new Date(this.clock.now()).toISOString()
    const record: ExportRecord = {
      id,
      owner,
      kind: kind.name,
      format: request.format,
      params,
      status: 'queued',
      createdAt: now,
      updatedAt: now,
      slot,
      ...(notifyEmail ? { notifyEmail } : {}),
    }
    try {
      await this.records.put(record)
      await this.#producer.enqueue('exports.build', { owner, exportId: record.id })
    } catch (err) {
      // Nothing will build it: do not leave a record stuck in `queued`, nor hold its slot.
      await this.records.delete(record).catch(() => undefined)
      await this.release(record)
      throw err
    }
    return record
  }

  /** Gives the export's slot back: it completed, failed for good, or was deleted. Idempotent. */
  async release(record: Pick<ExportRecord, 'owner' | 'id' | 'slot'>): Promise<void> {
    await this.#slots.give(record.owner, record.id, record.slot)
  }

  /** The message for a PDF over the cap. */
  pdfTooLarge(rows: number): string {
    return `params.rows: a PDF export holds at most ${this.pdfMaxRows} rows and this one would have ${rows}; request format "csv" for large exports`
  }

  /** The status clients see: a finished export reads `expired` once its time is up. */
  statusOf(record: ExportRecord): ExportStatus {
    if (record.expiresAt && Date.parse(record.expiresAt) <= this.clock.now()) return 'expired'
    return record.status
  }

  view(record: ExportRecord): ExportView {
    const status = this.statusOf(record)
    const { id, kind, format, createdAt, updatedAt, completedAt, expiresAt, rows, bytes, error } = record
    return {
      id,
      kind,
      format,
      status,
      createdAt,
      updatedAt,
      ...(completedAt ? { completedAt } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      ...(rows !== undefined ? { rows } : {}),
      ...(bytes !== undefined ? { bytes } : {}),
      ...(status === 'completed' ? { downloadUrl: this.links.apiDownloadUrl(id) } : {}),
      ...(error ? { error } : {}),
    }
  }

  /** One page of the owner's exports, newest first; `cursor` is the last id of the previous page. */
  async list(
    owner: string,
    limit: number,
    cursor?: string,
  ): Promise<{ items: ExportView[]; nextCursor?: string }> {
    const ids = await this.records.ids(owner)
    const start = cursor ? ids.findIndex((id) => id < cursor) : 0
    const pageIds = start < 0 ? [] : ids.slice(start, start + limit)
    const items = (await this.records.many(owner, pageIds)).map((r) => this.view(r))
    const more = start >= 0 && start + limit < ids.length
    return more && pageIds.length > 0 ? { items, nextCursor: pageIds.at(-1)! } : { items }
  }

  /** Deletes the file and the record; false when the owner has no such export. */
  async remove(owner: string, id: string): Promise<boolean> {
    const record = await this.records.get(owner, id)
    if (!record) return false
    await this.records.delete(record)
    await this.release(record)
    return true
  }

  /** The file to send, a presigned URL to redirect to (S3), or why there is none. */
  async download(owner: string, id: string): Promise<Download> {
    const record = await this.records.get(owner, id)
    if (!record) return { status: 'not_found' }
    const status = this.statusOf(record)
    if (status === 'expired') return { status: 'expired', record }
    if (status !== 'completed') return { status: 'not_ready', record }
    const key = fileKey(record)
    const name = fileName(record)
    const contentType = CONTENT_TYPES[record.format]
    const redirect = await this.store.downloadUrl(key, 300, { fileName: name, contentType })
    if (redirect) return { status: 'ready', record, fileName: name, contentType, redirect }
    try {
      return { status: 'ready', record, fileName: name, contentType, body: await this.store.get(key) }
    } catch (err) {
      // Deleted between reading the record and opening the file.
      if (err instanceof ObjectNotFoundError) return { status: 'not_found' }
      throw err
    }
  }
}
