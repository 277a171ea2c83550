import { join } from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import { SESClient } from '@aws-sdk/client-ses'
import type { Config } from '../config/schema.ts'
import type { Mailer } from './mail/mailer.ts'
import { OutboxMailer } from './mail/outbox.ts'
import { SesMailer } from './mail/ses.ts'
import { countAwsRequests } from './provider-requests.ts'
import { FsObjectStore } from './storage/fs-store.ts'
import type { ObjectStore } from './storage/object-store.ts'
import { S3ObjectStore } from './storage/s3-store.ts'

function region(config: Config): { region?: string } {
  return config.aws.region ? { region: config.aws.region } : {}
}

/** An S3 client for the configured region and endpoint (path-style when an endpoint is set: emulators). */
export function createS3Client(config: Config): S3Client {
  const endpoint = config.storage.s3Endpoint
  return countAwsRequests(
    new S3Client({ ...region(config), ...(endpoint ? { endpoint, forcePathStyle: true } : {}) }),
    's3',
  )
}

/** The object store the configuration asks for (`STORAGE_DRIVER`). */
export function createObjectStore(config: Config): ObjectStore {
  if (config.storage.driver === 's3') {
    return new S3ObjectStore({ bucket: config.storage.bucket!, client: createS3Client(config) })
  }
  return new FsObjectStore(config.storage.dir)
}

/** Where claim checks go: S3_BUCKET when set (every process can read it), else none. */
export function createClaimStore(config: Config): ObjectStore | undefined {
  return config.storage.bucket
    ? new S3ObjectStore({ bucket: config.storage.bucket, client: createS3Client(config) })
    : undefined
}

/** The mailer the configuration asks for (`MAIL_DRIVER`). */
export function createMailer(config: Config): Mailer {
  if (config.mail.driver === 'ses') {
    const endpoint = config.mail.sesEndpoint
    return new SesMailer({
      client: countAwsRequests(
        new SESClient({ ...region(config), ...(endpoint ? { endpoint } : {}) }),
        'ses',
      ),
      from: config.mail.from,
      maxSendRate: config.mail.sesMaxSendRate,
    })
  }
  return new OutboxMailer(join(config.storage.dir, 'outbox'), config.mail.from)
}
