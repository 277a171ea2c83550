import type { Readable } from 'node:stream'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  type S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { ObjectNotFoundError, StorageUnavailableError } from '../errors.ts'
import type { ObjectInfo, ObjectStore, PutOptions } from './object-store.ts'

export interface S3StoreOptions {
  bucket: string
  client: S3Client
  /** Bytes per multipart part. Default 8 MiB (S3's minimum is 5 MiB). */
  partSize?: number
}

/** Objects in one S3 bucket. Writes stream through lib-storage's multipart Upload. */
export class S3ObjectStore implements ObjectStore {
  readonly driver = 's3'
  readonly bucket: string
  readonly client: S3Client
  readonly #partSize: number
  /** When the bucket was last seen to exist: a 404 on HEAD object then means the object is missing. */
  #bucketSeenAt = 0

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket
    this.client = options.client
    this.#partSize = options.partSize ?? 8 * 1024 * 1024
  }

  async put(key: string, body: Readable | Buffer | string, options: PutOptions = {}): Promise<number> {
    let bytes = 0
    const counted =
      typeof body === 'string' || Buffer.isBuffer(body)
        ? body
        : body.on('data', (chunk: Buffer) => {
            bytes += chunk.length
          })
    const upload = new Upload({
      client: this.client,
      partSize: this.#partSize,
      queueSize: 2,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: counted,
        ContentType: options.contentType,
        ContentDisposition: options.fileName ? attachment(options.fileName) : undefined,
      },
    })
    await upload.done().catch((err) => this.#rethrow(err))
    return typeof body === 'string' ? Buffer.byteLength(body) : Buffer.isBuffer(body) ? body.length : bytes
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))
      return out.Body as Readable
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey')
        throw new ObjectNotFoundError(key, { cause: err })
      return this.#rethrow(err)
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      return {
        key,
        size: out.ContentLength ?? 0,
        contentType: out.ContentType,
        lastModified: out.LastModified ?? new Date(0),
      }
    } catch (err) {
      if (
        err instanceof NotFound ||
        (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      ) {
        // HEAD has no body: a missing bucket and a missing object are both a bare 404.
        if (Date.now() - this.#bucketSeenAt > 60_000) await this.ready()
        return undefined
      }
      return this.#rethrow(err)
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = []
    let token: string | undefined
    do {
      const page = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }))
        .catch((err) => this.#rethrow(err))
      for (const o of page.Contents ?? []) {
        out.push({
          key: o.Key!,
          size: o.Size ?? 0,
          contentType: undefined,
          lastModified: o.LastModified ?? new Date(0),
        })
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return out
  }

  async delete(key: string): Promise<void> {
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }))
      .catch((err) => this.#rethrow(err))
  }

  /** HeadBucket: StorageUnavailableError when the bucket is missing or this role may not use it. */
  async ready(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }))
      this.#bucketSeenAt = Date.now()
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
      if (status === 404)
        throw new StorageUnavailableError(
          `S3 bucket "${this.bucket}" does not exist: create it with \`npm run provision\` (or infra/aws/conveyor.yaml)`,
          { cause: err },
        )
      if (status === 403)
        throw new StorageUnavailableError(`access to S3 bucket "${this.bucket}" is denied`, { cause: err })
      throw new StorageUnavailableError(
        `S3 bucket "${this.bucket}" is not reachable: ${(err as Error).message}`,
        {
          cause: err,
        },
      )
    }
  }

  /** NoSuchBucket becomes StorageUnavailableError (the API answers 503); anything else passes through. */
  #rethrow(err: unknown): never {
    if ((err as { name?: string }).name === 'NoSuchBucket')
      throw new StorageUnavailableError(
        `S3 bucket "${this.bucket}" does not exist: create it with \`npm run provision\``,
        { cause: err },
      )
    throw err
  }

  async downloadUrl(key: string, expiresInSeconds: number, options: PutOptions = {}): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentDisposition: options.fileName ? attachment(options.fileName) : undefined,
      ResponseContentType: options.contentType,
    })
    return getSignedUrl(this.client, command, { expiresIn: expiresInSeconds })
  }
}

function attachment(fileName: string): string {
  return `attachment; filename="${fileName.replace(/["\\\r\n]/g, '_')}"`
}
