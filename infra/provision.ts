// `npm run provision`: creates what a deployment needs, idempotently (safe to run on every deploy), from
// the same configuration the service reads; infra/aws/conveyor.yaml and infra/gcp/ declare the same set.
// SQS: each queue the shipped jobs use (plus QUEUES=a,b), its `<name>-dlq`, and a RedrivePolicy
// (maxReceiveCount SQS_MAX_RECEIVE_COUNT). Pub/Sub: the topic, the group's subscription with a
// dead-letter policy, the `-dlq` and `-delay` topics and their subscriptions. S3_BUCKET / GCS_BUCKET:
// the bucket with its lifecycle rules, encryption and no public access. MAIL_DRIVER=ses: the sender
// identity. JOB_STORE=dynamodb: the ledger table (JOB_STORE_TABLE) with its `byOwner` index and TTL on
// `expiresAt` (Firestore's indexes and TTL policy are declared in infra/gcp). What it cannot do (an unverified SES sender, a missing permission) it prints as a next step.
// Works against a real account and against the emulators (`npm run emulators` prints the variables).

import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SESClient } from '@aws-sdk/client-ses'
import { ensureJobTable } from '../adapters/dynamodb/index.ts'
import { PubSubQueue } from '../adapters/pubsub/index.ts'
import { SqsQueue } from '../adapters/sqs/index.ts'
import { loadConfig } from '../config/load.ts'
import { ConfigError } from '../src/errors.ts'
import { createGcsClient, createS3Client } from '../src/services.ts'
import { provisionS3Bucket, provisionSesIdentity } from './provision/aws.ts'
import { provisionGcsBucket } from './provision/gcp.ts'
import { ProvisionReport } from './provision/report.ts'
import { bucketLifecycle, neededQueues } from './resources.ts'

let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`cannot provision: ${err.message}`)
  process.exit(1)
}

const report = new ProvisionReport()
const queues = await neededQueues(config)

if (config.queue.driver === 'sqs') {
  const sqs = new SqsQueue({
    ...config.sqs,
    ...(config.aws.region ? { region: config.aws.region } : {}),
    leaseMs: config.worker.leaseMs,
  })
  for (const name of queues) {
    const { url, dlqUrl } = await sqs.ensureQueue(name)
    report.ok(`sqs queue  ${name}: ${url}\n  dead letters: ${dlqUrl}`)
  }
  await sqs.close()
} else if (config.queue.driver === 'pubsub') {
  const pubsub = new PubSubQueue({
    ...config.pubsub,
    leaseMs: Math.min(600_000, Math.max(10_000, config.worker.leaseMs)),
  })
  for (const name of queues) {
    const n = await pubsub.ensureQueue(name)
    report.ok(
      `pubsub topic ${n.topic} → subscription ${n.subscription} (dead letters: ${n.dlqTopic} / ${n.dlqSubscription}; delays: ${n.delayTopic})`,
    )
  }
  await pubsub.close()
  // The emulator has no IAM; a real project needs the service agent's two grants.
  if (!process.env.PUBSUB_EMULATOR_HOST)
    report.next(
      "Pub/Sub dead-lettering needs Google's Pub/Sub service agent (service-<project-number>@gcp-sa-pubsub.iam.gserviceaccount.com) to hold roles/pubsub.publisher on each -dlq topic and roles/pubsub.subscriber on each subscription: infra/gcp/pubsub.tf grants both (or see infra/README.md for the gcloud commands)",
    )
} else {
  report.ok(`QUEUE_DRIVER=${config.queue.driver}: no queues to provision`)
}

const rules = bucketLifecycle(config)
if (config.storage.bucket) {
  const s3 = await createS3Client(config)
  await provisionS3Bucket(s3, config.storage.bucket, config.aws.region, rules, report)
  s3.destroy()
}
if (config.storage.gcsBucket) {
  await provisionGcsBucket(
    await createGcsClient(config),
    config.storage.gcsBucket,
    config.storage.gcsLocation,
    rules,
    report,
  )
}
if (config.mail.driver === 'ses') {
  const endpoint = config.mail.sesEndpoint
  const ses = new SESClient({ region: config.aws.region, ...(endpoint ? { endpoint } : {}) })
  await provisionSesIdentity(ses, config.mail.from, report)
  ses.destroy()
}

if (config.jobStore.driver === 'dynamodb') {
  const endpoint = config.jobStore.dynamodbEndpoint
  const client = new DynamoDBClient({
    ...(config.aws.region ? { region: config.aws.region } : {}),
    ...(endpoint ? { endpoint } : {}),
  })
  const status = await ensureJobTable(client, config.jobStore.table)
  report.ok(
    `dynamodb table ${config.jobStore.table}: ${status.table}; TTL on expiresAt: ${status.ttl === 'enabled' ? 'enabled' : 'not supported by this endpoint (an emulator); expired items are still ignored on read'}`,
  )
  client.destroy()
}

if (report.nextSteps.length > 0) {
  console.log(
    `\nProvisioned what could be. Still to do by hand:\n${report.nextSteps.map((s) => `  - ${s}`).join('\n')}`,
  )
}
