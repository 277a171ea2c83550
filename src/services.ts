import { join } from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import { SESClient } from '@aws-sdk/client-ses'
import { Storage } from '@google-cloud/storage'
import type { Config } from '../config/schema.ts'
import type { Mailer } from './mail/mailer.ts'
import { OutboxMailer } from './mail/outbox.ts'
import { SesMailer } from './mail/ses.ts'
import { SmtpMailer } from './mail/smtp.ts'
import { FsObjectStore } from './storage/fs-store.ts'
import { GcsObjectStore } from './storage/gcs-store.ts'
import type { ObjectStore } from './storage/object-store.ts'
import { S3ObjectStore } from './storage/s3-store.ts'

function region(config: Config): { region?: string } {
  return config.aws.region ? { region: config.aws.region } : {}
}

/** An S3 client for the configured region and endpoint (path-style when an endpoint is set: emulators). */
export function createS3Client(config: Config): S3Client {
  const endpoint = config.storage.s3Endpoint
  return new S3Client({ ...region(config), ...(endpoint ? { endpoint, forcePathStyle: true } : {}) })
}

/** A Cloud Storage client: Application Default Credentials, GOOGLE_CLOUD_PROJECT, STORAGE_EMULATOR_HOST. */
export function createGcsClient(config: Config): Storage {
  return new Storage(config.pubsub.projectId ? { projectId: config.pubsub.projectId } : {})
}

/** The object store the configuration asks for (`STORAGE_DRIVER`). */
export function createObjectStore(config: Config): ObjectStore {
  if (config.storage.driver === 's3') {
    return new S3ObjectStore({ bucket: config.storage.bucket!, client: createS3Client(config) })
  }
  if (config.storage.driver === 'gcs') {
    return new GcsObjectStore({
      bucket: config.storage.gcsBucket!,
      storage: createGcsClient(config),
      signedUrls: config.storage.gcsSignedUrls,
    })
  }
  return new FsObjectStore(config.storage.dir)
}

/**
 * Where claim checks go: a bucket every process can read, or none. With QUEUE_DRIVER=pubsub, GCS_BUCKET
 * first; otherwise S3_BUCKET first.
 */
export function createClaimStore(config: Config): ObjectStore | undefined {
  const gcs = () =>
    config.storage.gcsBucket
      ? new GcsObjectStore({ bucket: config.storage.gcsBucket, storage: createGcsClient(config) })
      : undefined
  const s3 = () =>
    config.storage.bucket
      ? new S3ObjectStore({ bucket: config.storage.bucket, client: createS3Client(config) })
      : undefined
  return config.queue.driver === 'pubsub' ? (gcs() ?? s3()) : (s3() ?? gcs())
}

/** The mailer the configuration asks for (`MAIL_DRIVER`). */
export function createMailer(config: Config): Mailer {
  if (config.mail.driver === 'ses') {
    const endpoint = config.mail.sesEndpoint
    return new SesMailer({
      client: new SESClient({ ...region(config), ...(endpoint ? { endpoint } : {}) }),
      from: config.mail.from,
      maxSendRate: config.mail.sesMaxSendRate,
    })
  }
  if (config.mail.driver === 'smtp') {
    return new SmtpMailer({
      url: config.mail.smtpUrl!,
      from: config.mail.from,
      requireTls: config.mail.smtpRequireTls,
      maxConnections: config.mail.smtpMaxConnections,
      maxSendRate: config.mail.smtpMaxSendRate,
    })
  }
  return new OutboxMailer(join(config.storage.dir, 'outbox'), config.mail.from)
}
