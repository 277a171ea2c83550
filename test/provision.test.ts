// biome-ignore-all lint/suspicious/noExplicitAny: recorded SDK command inputs are read field by field
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { S3Client } from '@aws-sdk/client-s3'
import { SESClient } from '@aws-sdk/client-ses'
import { loadConfig } from '../config/load.ts'
import { provisionS3Bucket, provisionSesIdentity } from '../infra/provision/aws.ts'
import { provisionGcsBucket } from '../infra/provision/gcp.ts'
import { ProvisionReport } from '../infra/provision/report.ts'
import { bucketLifecycle } from '../infra/resources.ts'
import { type RunningEmulator, startFauxqs, startSesEmulator } from './support/emulators.ts'
import { type RunningGcsEmulator, startGcsEmulator } from './support/gcs-emulator.ts'

let fauxqs: RunningEmulator
let ses: Omit<RunningEmulator, 'requests'>
let gcs: RunningGcsEmulator
before(async () => {
  fauxqs = await startFauxqs()
  ses = await startSesEmulator()
  gcs = await startGcsEmulator()
})
after(async () => {
  await fauxqs.stop()
  await ses.stop()
  await gcs.stop()
})

const rules = bucketLifecycle(loadConfig({}))

/** An S3 client for fauxqs that records every command it sends, by name, with its input. */
function recordingS3(region = 'eu-west-1'): {
  s3: S3Client
  sent: { name: string; input: Record<string, any> }[]
} {
  const sent: { name: string; input: Record<string, any> }[] = []
  const s3 = new S3Client({ endpoint: fauxqs.endpoint, forcePathStyle: true, region })
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ name: context.commandName!, input: args.input as Record<string, any> })
      return next(args)
    },
    { step: 'initialize' },
  )
  return { s3, sent }
}

test('provision: the bucket is created in its region, then its rules, encryption and public-access block are applied; a rerun only reapplies', async (t) => {
  const { s3, sent } = recordingS3()
  t.after(() => s3.destroy())
  const lines: string[] = []
  const report = new ProvisionReport((l) => lines.push(l))
  await provisionS3Bucket(s3, 'conveyor-eu', 'eu-west-1', rules, report)
  await provisionS3Bucket(s3, 'conveyor-eu', 'eu-west-1', rules, report)
  assert.deepEqual(sent[1], {
    name: 'CreateBucketCommand',
    input: { Bucket: 'conveyor-eu', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } },
  })
  const lifecycle = sent.find((c) => c.name === 'PutBucketLifecycleConfigurationCommand')!.input
  assert.deepEqual(lifecycle.LifecycleConfiguration.Rules, [
    { ID: 'exports', Status: 'Enabled', Filter: { Prefix: 'exports/' }, Expiration: { Days: 8 } },
    { ID: 'claim-checks', Status: 'Enabled', Filter: { Prefix: 'claim-checks/' }, Expiration: { Days: 15 } },
    {
      ID: 'abort-multipart',
      Status: 'Enabled',
      Filter: { Prefix: '' },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    },
  ])
  const names = sent.map((c) => c.name.replace('Command', ''))
  assert.deepEqual(names, [
    'HeadBucket',
    'CreateBucket',
    'PutBucketLifecycleConfiguration',
    'PutBucketEncryption',
    'PutPublicAccessBlock',
    'HeadBucket',
    'PutBucketLifecycleConfiguration',
    'PutBucketEncryption',
    'PutPublicAccessBlock',
  ])
  assert.deepEqual(
    sent.find((c) => c.name === 'PutPublicAccessBlockCommand')!.input.PublicAccessBlockConfiguration,
    { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
  )
  assert.equal(lines[0], 's3 bucket conveyor-eu: created in eu-west-1')
  assert.ok(lines.includes('s3 bucket conveyor-eu: exists'))
  assert.deepEqual(report.nextSteps, [])
})

test('provision: in us-east-1 CreateBucket carries no location constraint (S3 refuses one there)', async (t) => {
  const { s3, sent } = recordingS3('us-east-1')
  t.after(() => s3.destroy())
  await provisionS3Bucket(s3, 'conveyor-us', 'us-east-1', rules, new ProvisionReport(() => {}))
  assert.deepEqual(sent[1], { name: 'CreateBucketCommand', input: { Bucket: 'conveyor-us' } })
})

test('provision: an SES sender that cannot be checked becomes a next step, not a crash', async (t) => {
  // aws-ses-v2-local implements sending only: GetIdentityVerificationAttributes never answers.
  const client = new SESClient({ endpoint: ses.endpoint, region: 'us-east-1' })
  t.after(() => client.destroy())
  const report = new ProvisionReport(() => {})
  await provisionSesIdentity(client, 'Conveyor <noreply@example.com>', report, 300)
  assert.equal(report.nextSteps.length, 1)
  assert.match(report.nextSteps[0]!, /could not check the SES sender noreply@example\.com/)
  assert.match(report.nextSteps[0]!, /verify it in the SES console/)
})

test('provision: a GCS bucket the provisioning identity cannot create becomes a next step naming infra/gcp', async () => {
  // The firebase-tools emulator does not create buckets through the JSON API: the refusal path.
  const report = new ProvisionReport(() => {})
  await provisionGcsBucket(gcs.storage, 'conveyor-provisioned', 'EU', rules, report)
  assert.equal(report.nextSteps.length, 1)
  assert.match(
    report.nextSteps[0]!,
    /could not create or update the GCS bucket conveyor-provisioned.*terraform apply/s,
  )
})

const provision = fileURLToPath(new URL('../infra/provision.ts', import.meta.url))
const run = (env: Record<string, string>) =>
  promisify(execFile)(process.execPath, [provision], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
  })

test('npm run provision: on SQS + S3 it creates every queue with its DLQ and the bucket, and a second run changes nothing', async () => {
  const env = {
    AWS_REGION: 'eu-west-1',
    QUEUE_DRIVER: 'sqs',
    AWS_ENDPOINT_URL_SQS: fauxqs.endpoint,
    SQS_QUEUE_PREFIX: 'prov-',
    STORAGE_DRIVER: 's3',
    S3_BUCKET: 'conveyor-provision-cli',
    AWS_ENDPOINT_URL_S3: fauxqs.endpoint,
  }
  const first = await run(env)
  for (const q of ['default', 'emails', 'exports']) {
    assert.match(first.stdout, new RegExp(`sqs queue  ${q}: .*prov-${q}\\n  dead letters: .*prov-${q}-dlq`))
  }
  assert.match(first.stdout, /s3 bucket conveyor-provision-cli: created in eu-west-1/)
  assert.doesNotMatch(first.stdout, /Still to do by hand/)
  const second = await run(env)
  assert.match(second.stdout, /s3 bucket conveyor-provision-cli: exists/)
  assert.match(second.stdout, /sqs queue {2}exports: /)
})

test('npm run provision: a cloud driver without its region stops at once, naming the setting', async () => {
  await assert.rejects(run({ QUEUE_DRIVER: 'sqs' }), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 1)
    assert.match(err.stderr, /AWS_REGION is required when QUEUE_DRIVER=sqs/)
    return true
  })
})
