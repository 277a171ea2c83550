import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import Type from 'typebox'
import { DynamoJobStore, ensureJobTable } from '../adapters/dynamodb/index.ts'
import { PubSubQueue } from '../adapters/pubsub/index.ts'
import { defineJob } from '../src/job.ts'
import { Metrics } from '../src/metrics.ts'
import { Producer } from '../src/producer.ts'
import { providerRequestCounts } from '../src/provider-requests.ts'
import { GcsObjectStore } from '../src/storage/gcs-store.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { eventually, testLogger } from './support/async.ts'
import { AwsTestBackend } from './support/aws.ts'
import { startGcsEmulator } from './support/gcs-emulator.ts'
import { type PubSubEmulator, pubsubSkipReason, startPubSubEmulator } from './support/pubsub-emulator.ts'
import { startDynalite } from './support/stores.ts'

const aws = new AwsTestBackend()
const pubsubSkip = pubsubSkipReason()
let emulator: PubSubEmulator | undefined
before(async () => {
  await aws.start()
  if (!pubsubSkip) emulator = await startPubSubEmulator()
})
after(async () => {
  await aws.stop()
  await emulator?.stop()
})

const counts = (provider: string) =>
  new Map(providerRequestCounts().flatMap((t) => (t.provider === provider ? [[t.operation, t.count]] : [])))

function delta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>()
  for (const [op, n] of after) if (n - (before.get(op) ?? 0) > 0) out.set(op, n - (before.get(op) ?? 0))
  return out
}

const noop = (queue: string) =>
  defineJob({ type: 'test.noop', queue, schema: Type.Object({ n: Type.Integer() }), handle: () => {} })

test('provider requests: every SQS request the queue makes is counted under its action, the same count fauxqs served', {
  skip: aws.external && 'compares with the emulator own request log',
}, async () => {
  const queue = aws.createQueue({ waitTimeSeconds: 1 })
  const name = aws.name('cost')
  await queue.urls(name)
  const job = noop(name)
  const served = new Map(aws.emulator!.requests)
  const counted = counts('sqs')
  const worker = new Worker({ queue, jobs: [job], logger: testLogger, concurrency: 8 }).start()
  const outcomes = new JobOutcomes(worker)
  const sent = await new Producer({ queue }).enqueueMany(
    job,
    Array.from({ length: 25 }, (_, n) => ({ n })),
  )
  await Promise.all(sent.map((e) => outcomes.waitFor(e.id, 'success')))
  await worker.stop()
  await queue.close()

  const ours = delta(counted, counts('sqs'))
  const theirs = delta(served, aws.emulator!.requests)
  assert.ok((ours.get('SendMessageBatch') ?? 0) >= 3, 'the 25 sends are counted (3 batches of 10)')
  assert.ok((ours.get('ReceiveMessage') ?? 0) >= 1, 'receives are counted')
  assert.ok((ours.get('DeleteMessageBatch') ?? 0) >= 1, 'acks are counted')
  for (const [operation, n] of ours) assert.equal(n, theirs.get(operation), `${operation}: counted = served`)
})

test('provider requests: the metric conveyor_provider_requests_total carries provider and operation', async () => {
  const metrics = new Metrics()
  const text = await metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith('conveyor_provider_requests_total{provider="sqs"'))
  assert.ok(line, `a sqs series in:\n${text.slice(0, 2000)}`)
  assert.match(line, /operation="[A-Za-z]+"\} \d+/)
})

test('provider requests: Pub/Sub publishes, pulls and acks are counted under their gRPC methods', {
  skip: pubsubSkip,
}, async () => {
  const before = counts('pubsub')
  const queue = new PubSubQueue(
    { autoCreate: true, topicPrefix: `cost${Date.now().toString(36)}-`, pullWaitMs: 500 },
    { logger: testLogger },
  )
  const job = noop('cost')
  const worker = new Worker({ queue, jobs: [job], logger: testLogger }).start()
  const outcomes = new JobOutcomes(worker)
  const sent = await new Producer({ queue }).enqueueMany(
    job,
    Array.from({ length: 5 }, (_, n) => ({ n })),
  )
  await Promise.all(sent.map((e) => outcomes.waitFor(e.id, 'success', 20_000)))
  await worker.stop()
  // Without exactly-once delivery an ack resolves before its (batched) Acknowledge request is sent.
  await eventually(() => counts('pubsub').get('Acknowledge') !== before.get('Acknowledge'), 'an Acknowledge')
  await queue.close()
  const ours = delta(before, counts('pubsub'))
  assert.ok((ours.get('Publish') ?? 0) >= 1, `Publish counted: ${JSON.stringify([...ours])}`)
  assert.ok((ours.get('Pull') ?? 0) >= 1, 'pulls counted')
  assert.ok((ours.get('Acknowledge') ?? 0) >= 1, `acks counted: ${JSON.stringify([...ours])}`)
  assert.ok((ours.get('CreateTopic') ?? 0) >= 1, 'admin calls counted too')
})

test('provider requests: the job store requests show under the store driver (DynamoDB on dynalite)', async (t) => {
  const dynalite = await startDynalite()
  t.after(() => dynalite.stop())
  const client = new DynamoDBClient({ endpoint: dynalite.endpoint })
  await ensureJobTable(client, 'conveyor-cost')
  client.destroy()
  const store = new DynamoJobStore({ table: 'conveyor-cost', endpoint: dynalite.endpoint })
  t.after(() => store.close())
  const metrics = new Metrics()
  metrics.watchStore(store)
  await store.claim('k', 'a', 60_000)
  await store.claim('k', 'b', 60_000)
  await store.add('c', 1, 60_000)
  const text = await metrics.registry.metrics()
  const series = text
    .split('\n')
    .filter((l) => l.startsWith('conveyor_provider_requests_total{provider="dynamodb"'))
  const total = series.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
  assert.ok(total >= 3, `three store calls, at least three requests: ${series.join('; ')}`)
  assert.equal(
    total,
    [...store.requests.byOperation.values()].reduce((a, b) => a + b, 0),
  )
})

test('provider requests: Cloud Storage calls are counted under their JSON API operation', async (t) => {
  const gcs = await startGcsEmulator()
  t.after(() => gcs.stop())
  const store = new GcsObjectStore({ bucket: 'conveyor-cost', storage: gcs.storage })
  const count = (operation: string) =>
    providerRequestCounts().find((c) => c.provider === 'gcs' && c.operation === operation)?.count ?? 0
  const before = ['objects.insert', 'objects.getMetadata', 'objects.list', 'objects.delete'].map(count)
  await store.put('a.txt', 'hello')
  await store.head('a.txt')
  await store.list('')
  await store.delete('a.txt')
  const after = ['objects.insert', 'objects.getMetadata', 'objects.list', 'objects.delete'].map(count)
  assert.deepEqual(
    after.map((n, i) => n - before[i]!),
    [1, 1, 1, 1],
  )
})
