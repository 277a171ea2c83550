import { join } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Config } from '../config/schema.ts'
import type { Mailer } from './mail/mailer.ts'
import { OutboxMailer } from './mail/outbox.ts'
import { importOptional } from './optional-import.ts'
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
  return new S3Client({ ...region(config), ...(endpoint ? { endpoint, forcePathStyle: true } : {}) })
}

async function s3Store(config: Config, bucket: string, feature: string): Promise<ObjectStore> {
  const { S3ObjectStore } = await importOptional(() => import('./storage/s3-store.ts'), feature)
  return new S3ObjectStore({ bucket, client: await createS3Client(config, feature) })
}

/** The object store the configuration asks for (`STORAGE_DRIVER`). */
export async function createObjectStore(config: Config): Promise<ObjectStore> {
  if (config.storage.driver === 's3') return s3Store(config, config.storage.bucket!, 'STORAGE_DRIVER=s3')
  return new FsObjectStore(config.storage.dir)
}

/** Where claim checks go: S3_BUCKET when set (every process can read it), else none. */
export async function createClaimStore(config: Config): Promise<ObjectStore | undefined> {
  return config.storage.bucket ? s3Store(config, config.storage.bucket, 'S3_BUCKET') : undefined
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
      client: new SESClient({ ...region(config), ...(endpoint ? { endpoint } : {}) }),
      from: config.mail.from,
      maxSendRate: config.mail.sesMaxSendRate,
    })
  }
  return new OutboxMailer(join(config.storage.dir, 'outbox'), config.mail.from)
}
