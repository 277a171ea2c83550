import { join } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Storage } from '@google-cloud/storage'
import type { Config } from '../config/schema.ts'
import type { Mailer } from './mail/mailer.ts'
import { OutboxMailer } from './mail/outbox.ts'
import { SmtpMailer } from './mail/smtp.ts'
import { importOptional } from './optional-import.ts'
import { countAwsRequests } from './provider-requests.ts'
import { FsObjectStore } from './storage/fs-store.ts'
import type { ObjectStore } from './storage/object-store.ts'

// The AWS SDKs are optional peer dependencies: each is imported only when the configuration asks for
// it, so the fs store and the outbox mailer work without them.

function region(config: Config): { region?: string } {
  return config.aws.region ? { region: config.aws.region } : {}
}

/** An S3 client for the configured region and endpoint (path-style when an endpoint is set: emulators). */
export async function createS3Client(config: Config, feature = 'S3'): Promise<S3Client> {
  const { S3Client } = await importOptional(() => import('@aws-sdk/client-s3'), feature)
  const endpoint = config.storage.s3Endpoint
  return countAwsRequests(
    new S3Client({ ...region(config), ...(endpoint ? { endpoint, forcePathStyle: true } : {}) }),
    's3',
  )
}

async function s3Store(config: Config, bucket: string, feature: string): Promise<ObjectStore> {
  const { S3ObjectStore } = await importOptional(() => import('./storage/s3-store.ts'), feature)
  return new S3ObjectStore({ bucket, client: await createS3Client(config, feature) })
}

/** A Cloud Storage client: Application Default Credentials, GOOGLE_CLOUD_PROJECT, STORAGE_EMULATOR_HOST. */
export async function createGcsClient(config: Config, feature = 'Cloud Storage'): Promise<Storage> {
  const { Storage } = await importOptional(() => import('@google-cloud/storage'), feature)
  return new Storage(config.pubsub.projectId ? { projectId: config.pubsub.projectId } : {})
}

async function gcsStore(
  config: Config,
  bucket: string,
  feature: string,
  signedUrls?: boolean,
): Promise<ObjectStore> {
  const { GcsObjectStore } = await importOptional(() => import('./storage/gcs-store.ts'), feature)
  const storage = await createGcsClient(config, feature)
  return new GcsObjectStore({ bucket, storage, ...(signedUrls === undefined ? {} : { signedUrls }) })
}

/** The object store the configuration asks for (`STORAGE_DRIVER`). */
export async function createObjectStore(config: Config): Promise<ObjectStore> {
  if (config.storage.driver === 's3') return s3Store(config, config.storage.bucket!, 'STORAGE_DRIVER=s3')
  if (config.storage.driver === 'gcs')
    return gcsStore(config, config.storage.gcsBucket!, 'STORAGE_DRIVER=gcs', config.storage.gcsSignedUrls)
  return new FsObjectStore(config.storage.dir)
}

/**
 * Where claim checks go: a bucket every process can read, or none. With QUEUE_DRIVER=pubsub, GCS_BUCKET
 * first; otherwise S3_BUCKET first.
 */
export async function createClaimStore(config: Config): Promise<ObjectStore | undefined> {
  const { bucket, gcsBucket } = config.storage
  const gcs = () => (gcsBucket ? gcsStore(config, gcsBucket, 'GCS_BUCKET') : undefined)
  const s3 = () => (bucket ? s3Store(config, bucket, 'S3_BUCKET') : undefined)
  return config.queue.driver === 'pubsub' ? (gcs() ?? s3()) : (s3() ?? gcs())
}

/** The mailer the configuration asks for (`MAIL_DRIVER`). */
export async function createMailer(config: Config): Promise<Mailer> {
  if (config.mail.driver === 'ses') {
    const [{ SESClient }, { SesMailer }] = await importOptional(
      () => Promise.all([import('@aws-sdk/client-ses'), import('./mail/ses.ts')]),
      'MAIL_DRIVER=ses',
    )
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
