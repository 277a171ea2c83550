import type { Readable } from 'node:stream'

export interface ObjectInfo {
  key: string
  size: number
  contentType: string | undefined
  lastModified: Date
}

export interface PutOptions {
  contentType?: string
  /** Suggested file name for downloads (Content-Disposition). */
  fileName?: string
}

/**
 * Where files live: the local file system (the embedded default) or S3. Keys are `/`-separated paths
 * such as `exports/<owner>/<id>.csv`. Writes stream (multipart on S3), so memory stays flat in the size.
 */
export interface ObjectStore {
  readonly driver: 'fs' | 's3' | 'gcs'
  /** Writes `body` under `key`, replacing what was there; resolves to the bytes written. */
  put(key: string, body: Readable | Buffer | string, options?: PutOptions): Promise<number>
  /**
   * Resolves when the store can be used (the bucket exists and answers; the directory is writable);
   * rejects with StorageUnavailableError saying what is missing. Readiness (/readyz) calls it.
   * Every other method also rejects with StorageUnavailableError, never ObjectNotFoundError or
   * undefined, when the bucket itself is missing.
   */
  ready(): Promise<void>
  /** Streams the object; rejects with ObjectNotFoundError when there is none. */
  get(key: string): Promise<Readable>
  /** Size and type, or undefined when there is no such object. */
  head(key: string): Promise<ObjectInfo | undefined>
  /** Every object whose key starts with `prefix`. */
  list(prefix: string): Promise<ObjectInfo[]>
  /** Removes the object; no error if it is already gone. */
  delete(key: string): Promise<void>
  /**
   * A URL that downloads the object for `expiresInSeconds`: presigned on S3; on the file system, the
   * caller's own download route (the store returns undefined and the API streams the file itself).
   */
  downloadUrl(key: string, expiresInSeconds: number, options?: PutOptions): Promise<string | undefined>
}

export { ObjectNotFoundError, StorageUnavailableError } from '../errors.ts'
