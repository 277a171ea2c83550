// `npm run provision`: creates what a deployment needs, idempotently (safe to run on every deploy).
// SQS: each queue the shipped jobs use (plus QUEUES=a,b), its `<name>-dlq`, and a RedrivePolicy
// (maxReceiveCount SQS_MAX_RECEIVE_COUNT) as the crash-loop safety net. Pub/Sub: the topic, the group's
// subscription with a dead-letter policy, the `-dlq` and `-delay` topics and their subscriptions.
// S3: the bucket, if S3_BUCKET. JOB_STORE=dynamodb: the ledger table (JOB_STORE_TABLE) with its
// `byOwner` index and TTL on `expiresAt`. (Firestore needs no provisioning from here: its composite
// indexes and TTL policy are declared for the GCP infra, see adapters/firestore/resources.ts.)
// Works against a real account and against the emulators (`npm run emulators` prints the variables).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { CreateBucketCommand } from '@aws-sdk/client-s3'
import { ensureJobTable } from '../adapters/dynamodb/index.ts'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { PubSubQueue } from '../adapters/pubsub/index.ts'
import { SqsQueue } from '../adapters/sqs/index.ts'
import { loadConfig } from '../config/load.ts'
import { deploymentQueues, handlersFromConfig } from '../handlers/index.ts'
import { ConfigError } from '../src/errors.ts'
import { Producer } from '../src/producer.ts'
import { createS3Client } from '../src/services.ts'

let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`cannot provision: ${err.message}`)
  process.exit(1)
}

// Only the jobs' queue names are needed here; nothing is sent through this producer.
const shipped = handlersFromConfig(config, {
  producer: new Producer({ queue: new MemoryQueue() }),
  secret: 'provisioning-does-not-sign-links',
  appUrl: config.app.url ?? 'http://localhost',
})
const queues = deploymentQueues(shipped.jobs)

if (config.queue.driver === 'sqs') {
  const sqs = new SqsQueue({
    ...config.sqs,
    ...(config.aws.region ? { region: config.aws.region } : {}),
    leaseMs: config.worker.leaseMs,
  })
  for (const name of queues) {
    const { url, dlqUrl } = await sqs.ensureQueue(name)
    console.log(`sqs queue  ${name}: ${url}\n  dead letters: ${dlqUrl}`)
  }
  await sqs.close()
} else if (config.queue.driver === 'pubsub') {
  const pubsub = new PubSubQueue({
    ...config.pubsub,
    leaseMs: Math.min(600_000, Math.max(10_000, config.worker.leaseMs)),
  })
  for (const name of queues) {
    const n = await pubsub.ensureQueue(name)
    console.log(
      `pubsub topic ${n.topic} → subscription ${n.subscription} (dead letters: ${n.dlqTopic} / ${n.dlqSubscription}; delays: ${n.delayTopic})`,
    )
  }
  await pubsub.close()
} else {
  console.log(`QUEUE_DRIVER=${config.queue.driver}: no queues to provision`)
}

if (config.storage.bucket) {
  const s3 = createS3Client(config)
  try {
    await s3.send(new CreateBucketCommand({ Bucket: config.storage.bucket }))
    console.log(`s3 bucket ${config.storage.bucket}: created`)
  } catch (err) {
    const name = (err as { name?: string }).name
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err
    console.log(`s3 bucket ${config.storage.bucket}: exists`)
  }
  s3.destroy()
}

if (config.jobStore.driver === 'dynamodb') {
  const endpoint = config.jobStore.dynamodbEndpoint
  const client = new DynamoDBClient({
    ...(config.aws.region ? { region: config.aws.region } : {}),
    ...(endpoint ? { endpoint } : {}),
  })
  const status = await ensureJobTable(client, config.jobStore.table)
  console.log(
    `dynamodb table ${config.jobStore.table}: ${status.table}; TTL on expiresAt: ${status.ttl === 'enabled' ? 'enabled' : 'not supported by this endpoint (an emulator); expired items are still ignored on read'}`,
  )
  client.destroy()
}
