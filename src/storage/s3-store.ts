import type { Readable } from 'node:stream'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  type S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { ObjectNotFoundError } from '../errors.ts'
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
    await upload.done()
    return typeof body === 'string' ? Buffer.byteLength(body) : Buffer.isBuffer(body) ? body.length : bytes
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))
      return out.Body as Readable
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey')
        throw new ObjectNotFoundError(key, { cause: err })
      throw err
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
      )
        return undefined
      throw err
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = []
    let token: string | undefined
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      )
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
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }))
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
