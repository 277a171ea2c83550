import { createHash } from 'node:crypto'
import { text } from 'node:stream/consumers'
import { isId } from '../../src/ids.ts'
import { ObjectNotFoundError, type ObjectStore } from '../../src/storage/object-store.ts'

/** What a client sees. `expired` is never stored: a completed or failed export reads so after `expiresAt`. */
export type ExportStatus = 'queued' | 'running' | 'completed' | 'failed' | 'expired'
export type ExportFormat = 'csv' | 'pdf'

/** The status record, kept as JSON in the object store so API and worker processes share it. */
export interface ExportRecord {
  id: string
  owner: string
  kind: string
  format: ExportFormat
  params: Record<string, unknown>
  status: Exclude<ExportStatus, 'expired'>
  createdAt: string
  updatedAt: string
  completedAt?: string
  expiresAt?: string
  rows?: number
  bytes?: number
  error?: string
  /** Where the "export ready" email goes (the token's `email` claim); none when unknown. */
  notifyEmail?: string
  /** The "export ready" email has been enqueued. */
  notified?: boolean
  /** Which of the owner's active-export slots it holds while queued or running (see ExportSlots). */
  slot?: number
}

/**
 * The owner as one safe path segment: as is when it is plain (`alice`, `user_42`, `a@b.com`), else a
 * hash, so no `sub` can climb out of its folder or collide with a plain one (`~` never appears in those).
 */
export function ownerFolder(owner: string): string {
  return /^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,127}$/.test(owner)
    ? owner
    : `~${createHash('sha256').update(owner).digest('hex').slice(0, 40)}`
}

export function fileKey(record: Pick<ExportRecord, 'owner' | 'id' | 'format'>): string {
  return `exports/${ownerFolder(record.owner)}/${record.id}.${record.format}`
}

/** The name a download is saved under, e.g. `activities-2026-11-22-8f3a1c2b9d0e.csv`. */
export function fileName(record: Pick<ExportRecord, 'kind' | 'createdAt' | 'id' | 'format'>): string {
  return `${record.kind}-${record.createdAt.slice(0, 10)}-${record.id.slice(-12)}.${record.format}`
}

function recordKey(owner: string, id: string): string {
  return `exports/${ownerFolder(owner)}/${id}.json`
}

/** Export status records in the object store, next to their files: `exports/<owner>/<id>.json`. */
export class ExportRecords {
  readonly #store: ObjectStore

  constructor(store: ObjectStore) {
    this.#store = store
  }

  /** The owner's record, or undefined (unknown id, another owner's id, or not an id at all). */
  async get(owner: string, id: string): Promise<ExportRecord | undefined> {
    if (!isId(id)) return undefined
    const record = await this.#read(recordKey(owner, id))
    return record?.owner === owner ? record : undefined
  }

  async put(record: ExportRecord): Promise<void> {
    await this.#store.put(recordKey(record.owner, record.id), JSON.stringify(record), {
      contentType: 'application/json',
    })
  }

  /** Removes the file, then the record. */
  async delete(record: ExportRecord): Promise<void> {
    await this.#store.delete(fileKey(record))
    await this.#store.delete(recordKey(record.owner, record.id))
  }

  /** The owner's export ids, newest first (ids are uuid v7, so their order is their creation order). */
  async ids(owner: string): Promise<string[]> {
    const objects = await this.#store.list(`exports/${ownerFolder(owner)}/`)
    return idsOf(objects.map((o) => o.key))
  }

  /** Reads the records at these ids, skipping any that vanished meanwhile. */
  async many(owner: string, ids: readonly string[]): Promise<ExportRecord[]> {
    const records = await Promise.all(ids.map((id) => this.get(owner, id)))
    return records.filter((r): r is ExportRecord => r !== undefined)
  }

  /** Every record of every owner (the cleanup job walks these). */
  async *all(): AsyncGenerator<ExportRecord> {
    const objects = await this.#store.list('exports/')
    for (const object of objects) {
      if (!object.key.endsWith('.json')) continue
      const record = await this.#read(object.key)
      if (record) yield record
    }
  }

  async #read(key: string): Promise<ExportRecord | undefined> {
    try {
      return JSON.parse(await text(await this.#store.get(key))) as ExportRecord
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined
      throw err
    }
  }
}

function idsOf(keys: readonly string[]): string[] {
  const ids: string[] = []
  for (const key of keys) {
    if (!key.endsWith('.json')) continue
    const id = key.slice(key.lastIndexOf('/') + 1, -'.json'.length)
    if (isId(id)) ids.push(id)
  }
  return ids.sort().reverse()
}
