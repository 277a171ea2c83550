import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Bucket, Storage } from '@google-cloud/storage'
import { ObjectNotFoundError, StorageUnavailableError } from '../errors.ts'
import { countProviderRequest } from '../provider-requests.ts'
import type { ObjectInfo, ObjectStore, PutOptions } from './object-store.ts'

export interface GcsStoreOptions {
  bucket: string
  /** A `@google-cloud/storage` client (it honours STORAGE_EMULATOR_HOST). */
  storage: Storage
  /** Hand downloads over as V4-signed URLs. Default true; false: downloadUrl() is undefined and the API streams. */
  signedUrls?: boolean
}

/**
 * Objects in one Cloud Storage bucket through the JSON API. Buffers and strings go up in one request;
 * streams go through a resumable upload session (one streamed request; after a dropped connection the
 * client asks the session how far it got and goes on from there), so memory stays flat in the size. Download URLs are
 * V4 signed URLs: the credentials must be able to sign (a service-account key, or on Cloud Run the
 * service account itself with roles/iam.serviceAccountTokenCreator on itself: the client calls signBlob).
 */
export class GcsObjectStore implements ObjectStore {
  readonly driver = 'gcs'
  readonly bucket: Bucket
  readonly #signedUrls: boolean
  /** When the bucket was last seen to exist: a 404 on an object then means the object is missing. */
  #bucketSeenAt = 0

  constructor(options: GcsStoreOptions) {
    this.bucket = options.storage.bucket(options.bucket)
    this.#signedUrls = options.signedUrls ?? true
  }

  async put(key: string, body: Readable | Buffer | string, options: PutOptions = {}): Promise<number> {
    const file = this.bucket.file(key)
    const metadata = {
      contentType: options.contentType,
      ...(options.fileName ? { contentDisposition: attachment(options.fileName) } : {}),
    }
    try {
      countProviderRequest('gcs', 'objects.insert')
      if (typeof body === 'string' || Buffer.isBuffer(body)) {
        await file.save(body, { resumable: false, metadata })
        return typeof body === 'string' ? Buffer.byteLength(body) : body.length
      }
      let bytes = 0
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.length
      })
      await pipeline(body, file.createWriteStream({ resumable: true, metadata }))
      return bytes
    } catch (err) {
      return this.#rethrow(err)
    }
  }

  async get(key: string): Promise<Readable> {
    // Ask first: a read stream reports a missing object only once it is read.
    if (!(await this.head(key))) throw new ObjectNotFoundError(key)
    countProviderRequest('gcs', 'objects.get')
    return this.bucket.file(key).createReadStream()
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      countProviderRequest('gcs', 'objects.getMetadata')
      const [m] = await this.bucket.file(key).getMetadata()
      return info(key, m)
    } catch (err) {
      if (status(err) !== 404) return this.#rethrow(err)
      if (Date.now() - this.#bucketSeenAt > 60_000) await this.ready()
      return undefined
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    try {
      countProviderRequest('gcs', 'objects.list')
      const [files] = await this.bucket.getFiles({ prefix, autoPaginate: true })
      return files.map((f) => info(f.name, f.metadata)).sort((a, b) => a.key.localeCompare(b.key))
    } catch (err) {
      return this.#rethrow(err)
    }
  }

  async delete(key: string): Promise<void> {
    try {
      countProviderRequest('gcs', 'objects.delete')
      await this.bucket.file(key).delete({ ignoreNotFound: true })
    } catch (err) {
      this.#rethrow(err)
    }
  }

  async downloadUrl(
    key: string,
    expiresInSeconds: number,
    options: PutOptions = {},
  ): Promise<string | undefined> {
    if (!this.#signedUrls) return undefined
    const [url] = await this.bucket.file(key).getSignedUrl({
      version: 'v4',
      action: 'read',
      expires: Date.now() + expiresInSeconds * 1000,
      ...(options.fileName ? { responseDisposition: attachment(options.fileName) } : {}),
      ...(options.contentType ? { responseType: options.contentType } : {}),
    })
    return url
  }

  /** Lists one object: needs only storage.objects.list, which the service accounts have (not buckets.get). */
  async ready(): Promise<void> {
    try {
      countProviderRequest('gcs', 'objects.list')
      await this.bucket.getFiles({ maxResults: 1, autoPaginate: false })
      this.#bucketSeenAt = Date.now()
    } catch (err) {
      this.#rethrow(err, true)
    }
  }

  /** A missing bucket (404 on a bucket-level call) or a refused one becomes StorageUnavailableError. */
  #rethrow(err: unknown, bucketCall = false): never {
    const code = status(err)
    const message = (err as Error).message ?? String(err)
    if (code === 404 && (bucketCall || /bucket does not exist/i.test(message)))
      throw new StorageUnavailableError(
        `GCS bucket "${this.bucket.name}" does not exist: create it with \`npm run provision\` (or infra/gcp)`,
        { cause: err },
      )
    if (code === 403 || code === 401)
      throw new StorageUnavailableError(`access to GCS bucket "${this.bucket.name}" is denied: ${message}`, {
        cause: err,
      })
    if (bucketCall)
      throw new StorageUnavailableError(`GCS bucket "${this.bucket.name}" is not reachable: ${message}`, {
        cause: err,
      })
    throw err
  }
}

interface GcsMetadata {
  size?: string | number
  contentType?: string
  updated?: string
}

function info(key: string, m: GcsMetadata): ObjectInfo {
  return {
    key,
    size: Number(m.size ?? 0),
    contentType: m.contentType,
    lastModified: m.updated ? new Date(m.updated) : new Date(0),
  }
}

function status(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code
  return typeof code === 'number' ? code : undefined
}

function attachment(fileName: string): string {
  return `attachment; filename="${fileName.replace(/["\\\r\n]/g, '_')}"`
}
