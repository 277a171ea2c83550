import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import Type from 'typebox'
import { SqsQueue } from '../adapters/sqs/index.ts'
import type { Clock } from '../src/clock.ts'
import { createEnvelope } from '../src/envelope.ts'
import { QueueUnavailableError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { Producer } from '../src/producer.ts'
import type { Delivery } from '../src/queue.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { eventually, testLogger } from './support/async.ts'
import { AwsTestBackend } from './support/aws.ts'
import { startOutageProxy } from './support/emulators.ts'

const aws = new AwsTestBackend()
before(() => aws.start())
after(() => aws.stop())

const Blob = Type.Object({ data: Type.String() })
const env = (payload: unknown) =>
  createEnvelope({ type: 'test.blob', payload, maxAttempts: 3, now: Date.now() })

/** A clock that runs with real time plus an offset a test can add to. */
class OffsetClock implements Clock {
  offset = 0
  now = () => Date.now() + this.offset
  setTimer = (fn: () => void, ms: number) => setTimeout(fn, ms)
  clearTimer = (h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>)
}

function countOf(action: string): number {
  return aws.emulator?.requests.get(action) ?? 0
}

test('sqs: sends are batched by count (10) and by bytes (1 MiB)', {
  skip: aws.external && 'counts requests at the emulator',
}, async (t) => {
  const queue = aws.createQueue({ claimCheckBytes: 1_048_576 })
  t.after(() => queue.close())
  const name = aws.name('batching')
  await queue.urls(name)
  const before = countOf('SendMessageBatch')
  await queue.sendBatch(
    name,
    Array.from({ length: 25 }, (_, n) => env({ n })),
  )
  assert.equal(countOf('SendMessageBatch') - before, 3, '25 messages in 3 requests')
  const big = 'x'.repeat(400 * 1024)
  const mid = countOf('SendMessageBatch')
  await queue.sendBatch(name, [env({ data: big }), env({ data: big }), env({ data: big })])
  assert.equal(countOf('SendMessageBatch') - mid, 2, '3 × 400 KiB does not fit one 1 MiB request')
  const stats = await queue.stats(name)
  assert.equal(stats.ready, 28)
})

test('sqs: a body over the threshold travels by claim check and its object is removed on ack', async (t) => {
  const queue = aws.createQueue()
  t.after(() => queue.close())
  const name = aws.name('claim')
  const big = 'y'.repeat(300 * 1024)
  const received: number[] = []
  const blob = defineJob({
    type: 'test.blob',
    queue: name,
    schema: Blob,
    handle: ({ data }) => void received.push(data.length),
  })
  const worker = new Worker({ queue, jobs: [blob], logger: testLogger })
  const outcomes = new JobOutcomes(worker)
  const sent = await new Producer({ queue }).enqueue(blob, { data: big })
  const stored = await aws.s3.send(
    new ListObjectsV2Command({ Bucket: aws.bucket, Prefix: `claim-checks/${name}/` }),
  )
  assert.equal(stored.Contents?.length, 1, 'the body is in S3 while the message waits')
  worker.start()
  t.after(() => worker.stop())
  await outcomes.waitFor(sent.id, 'success', 15_000)
  assert.deepEqual(received, [big.length])
  await worker.stop()
  const left = await aws.s3.send(
    new ListObjectsV2Command({ Bucket: aws.bucket, Prefix: `claim-checks/${name}/` }),
  )
  assert.equal(left.Contents?.length ?? 0, 0, 'the object is deleted once the job is acked')
})

test('sqs: a body over 1 MiB without a claim-check store is refused with a clear error', async (t) => {
  const queue = new SqsQueue(
    { endpoint: aws.endpoint, autoCreate: true, queuePrefix: `${aws.runId}-` },
    { logger: testLogger },
  )
  t.after(() => queue.close())
  await assert.rejects(queue.send(aws.name('toolarge'), env({ data: 'z'.repeat(1_100_000) })), {
    code: 'MESSAGE_TOO_LARGE',
    message: /over SQS's 1048576-byte limit; configure an object store/,
  })
})

test('sqs: a three-hour delay waits on the clock without spending attempts or receives', async (t) => {
  const clock = new OffsetClock()
  const queue = new SqsQueue(
    {
      endpoint: aws.endpoint,
      autoCreate: true,
      queuePrefix: `${aws.runId}-`,
      maxDelaySeconds: 1,
      waitTimeSeconds: 2,
    },
    { claimStore: aws.claimStore(), clock, logger: testLogger },
  )
  t.after(() => queue.close())
  const name = aws.name('hours')
  const attempts: number[] = []
  const later = defineJob({
    type: 'test.later',
    queue: name,
    schema: Type.Object({}),
    handle: (_p, ctx) => void attempts.push(ctx.attempt),
  })
  const worker = new Worker({ queue, jobs: [later], logger: testLogger, clock }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  const hops = countOf('SendMessageBatch')
  const sent = await new Producer({ queue, clock }).enqueue(later, {}, { delayMs: 3 * 3600_000 })
  // The message comes back from SQS every (shortened) second and is re-sent: wait for two such hops.
  await waitForCount('SendMessageBatch', hops + 3)
  assert.deepEqual(attempts, [], 'not delivered while three hours have not passed')
  clock.offset += 3 * 3600_000
  const done = await outcomes.waitFor(sent.id, 'success', 15_000)
  assert.equal(done.attempt, 1)
})

test('sqs: consumers back off and recover when SQS goes away; sends fail clearly; nothing is lost', async (t) => {
  const proxy = await startOutageProxy(aws.emulator?.port ?? 0)
  t.after(() => proxy.stop())
  const queue = new SqsQueue(
    { endpoint: proxy.endpoint, autoCreate: true, queuePrefix: `${aws.runId}-`, waitTimeSeconds: 1 },
    { logger: testLogger },
  )
  t.after(() => queue.close())
  const direct = aws.createQueue()
  t.after(() => direct.close())
  const name = aws.name('outage')
  const seen = new Set<number>()
  const job = defineJob({
    type: 'test.outage',
    queue: name,
    schema: Type.Object({ n: Type.Integer() }),
    handle: ({ n }) => void seen.add(n),
  })
  // A receive whose response is lost in the outage leaves its messages invisible until their lease
  // ends (on real SQS as on the emulator), and acks lost in the outage mean a second run: a short lease
  // brings both back within the test. At least once, nothing lost.
  const worker = new Worker({ queue, jobs: [job], logger: testLogger, leaseMs: 2_000 }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  const producer = new Producer({ queue })
  const first = await producer.enqueueMany(
    job,
    Array.from({ length: 10 }, (_, n) => ({ n })),
  )
  await Promise.all(first.map((e) => outcomes.waitFor(e.id, 'success', 15_000)))

  await proxy.cut()
  await assert.rejects(
    producer.enqueue(job, { n: 999 }),
    (err: unknown) => err instanceof QueueUnavailableError && /could not send to SQS queue/.test(err.message),
  )
  // Meanwhile other producers (straight to SQS) keep enqueueing.
  const during = await new Producer({ queue: direct }).enqueueMany(
    job,
    Array.from({ length: 10 }, (_, n) => ({ n: 100 + n })),
  )
  await new Promise((resolve) => setTimeout(resolve, 2_000)) // the outage lasts two seconds
  await proxy.restore()
  await Promise.all(during.map((e) => outcomes.waitFor(e.id, 'success', 20_000)))
  assert.equal(seen.size, 20)
  assert.ok(!seen.has(999))
})

test('sqs: a claim-checked message whose object is gone is dead-lettered at once, with its reason', async (t) => {
  const queue = aws.createQueue()
  t.after(() => queue.close())
  const name = aws.name('lostclaim')
  let runs = 0
  const blob = defineJob({ type: 'test.blob', queue: name, schema: Blob, handle: () => void runs++ })
  const sent = await new Producer({ queue }).enqueue(blob, { data: 'q'.repeat(300 * 1024) })
  const stored = await aws.s3.send(
    new ListObjectsV2Command({ Bucket: aws.bucket, Prefix: `claim-checks/${name}/` }),
  )
  await aws.s3.send(new DeleteObjectCommand({ Bucket: aws.bucket, Key: stored.Contents![0]!.Key! }))
  const worker = new Worker({ queue, jobs: [blob], logger: testLogger })
  const outcomes = new JobOutcomes(worker)
  worker.start()
  t.after(() => worker.stop())
  const dead = await outcomes.waitFor(sent.id, 'dead_letter', 15_000)
  assert.equal(dead.deadLetterCode, 'claim_check_missing')
  assert.equal(dead.attempt, 1, 'on its first delivery, not after the receive limit')
  const [letter] = await eventually(async () => {
    const l = await queue.peekDeadLetters(name)
    return l.length > 0 && l
  }, 'the dead letter')
  assert.equal(letter!.info.code, 'claim_check_missing')
  assert.match(letter!.info.message, /missing from the object store/)
  assert.equal(runs, 0)
})

test('sqs: an ack after the visibility timeout ran out is LeaseLostError, not success (a stale receipt deletes nothing)', async (t) => {
  const queue = aws.createQueue({ waitTimeSeconds: 1 })
  t.after(() => queue.close())
  const name = aws.name('stale')
  await queue.send(name, env({}))
  const first = await takeOne(queue, name, 1_000)
  await new Promise((resolve) => setTimeout(resolve, first.leaseExpiresAt - Date.now() + 100))
  const second = await takeOne(queue, name, 30_000)
  assert.equal(second.id, first.id)
  await assert.rejects(first.ack(), { name: 'LeaseLostError', code: 'LEASE_LOST' })
  // What the adapter relies on: SQS (and fauxqs) accept the stale delete silently and delete nothing.
  assert.equal((await queue.stats(name)).inFlight, 1)
  await second.ack()
  await eventually(async () => {
    const s = await queue.stats(name)
    return s.ready === 0 && s.inFlight === 0
  }, 'the fresh receipt to delete it')
})

test('sqs: an ack that fails in an outage is retried while the lease holds; the job runs once', async (t) => {
  const proxy = await startOutageProxy(aws.emulator?.port ?? 0)
  t.after(() => proxy.stop())
  const queue = aws.createQueue({ endpoint: proxy.endpoint, waitTimeSeconds: 1, requestTimeoutMs: 1_000 })
  t.after(() => queue.close())
  const direct = aws.createQueue()
  t.after(() => direct.close())
  const name = aws.name('ackoutage')
  let runs = 0
  const job = defineJob({
    type: 'test.ackoutage',
    queue: name,
    schema: Type.Object({}),
    handle: async () => {
      runs++
      // The network goes away as the job finishes, for 1.5 s: its ack meets the outage.
      await proxy.cut()
      setTimeout(() => void proxy.restore(), 1_500)
    },
  })
  const worker = new Worker({ queue, jobs: [job], logger: testLogger, leaseMs: 10_000 }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  const sent = await new Producer({ queue: direct }).enqueue(job, {})
  await outcomes.waitFor(sent.id, 'success', 15_000)
  await eventually(
    async () => {
      const s = await direct.stats(name)
      return s.ready === 0 && s.inFlight === 0
    },
    'the retried ack to delete the message',
    { timeoutMs: 9_000 }, // within the 10 s lease: a dropped ack would leave it in flight until then
  )
  assert.equal(runs, 1)
  assert.doesNotMatch(
    await worker.metrics.registry.getSingleMetricAsString('conveyor_settle_errors_total'),
    /\} \d/,
  )
})

test('sqs: with every slot busy on jobs three leases long, prefetched messages keep their leases: each job runs once', async (t) => {
  const queue = aws.createQueue({ waitTimeSeconds: 1 })
  t.after(() => queue.close())
  const name = aws.name('longjobs')
  const runs = new Map<number, number[]>()
  const long = defineJob({
    type: 'test.long',
    queue: name,
    schema: Type.Object({ n: Type.Integer() }),
    timeoutMs: 10_000,
    handle: async ({ n }, { attempt }) => {
      runs.set(n, [...(runs.get(n) ?? []), attempt])
      await new Promise((resolve) => setTimeout(resolve, 3_000)) // the job's own work: three leases
    },
  })
  // Two slots, a prefetch of two more: two messages wait in the buffer while two jobs run.
  const worker = new Worker({
    queue,
    jobs: [long],
    concurrency: 2,
    prefetch: 2,
    leaseMs: 1_000,
    logger: testLogger,
  })
  const outcomes = new JobOutcomes(worker)
  const sent = await new Producer({ queue }).enqueueMany(
    long,
    Array.from({ length: 6 }, (_, n) => ({ n })),
  )
  worker.start()
  t.after(() => worker.stop())
  await Promise.all(sent.map((e) => outcomes.waitFor(e.id, 'success', 30_000)))
  assert.deepEqual(
    [...runs.entries()].sort(([a], [b]) => a - b),
    Array.from({ length: 6 }, (_, n) => [n, [1]]),
    'every job ran once, as attempt 1',
  )
  assert.ok(!outcomes.events.some((e) => e.outcome === 'lease_lost'))
})

/** Consumes `name` directly until one delivery arrives. */
async function takeOne(queue: SqsQueue, name: string, leaseMs: number): Promise<Delivery> {
  const consumer = queue.consume(name, { prefetch: 1, leaseMs, onReadable: () => {} })
  try {
    return await eventually(() => consumer.take(1)[0], 'a delivery', { timeoutMs: 10_000, everyMs: 20 })
  } finally {
    void consumer.close()
  }
}

async function waitForCount(action: string, atLeast: number): Promise<void> {
  const { eventually } = await import('./support/async.ts')
  await eventually(() => aws.external || countOf(action) >= atLeast, `${atLeast} ${action} requests`, {
    timeoutMs: 15_000,
  })
}

test('sqs: provisioning creates the queue, its DLQ and the RedrivePolicy, and is idempotent', async (t) => {
  const { GetQueueAttributesCommand } = await import('@aws-sdk/client-sqs')
  const name = aws.name('provisioned')
  const first = new SqsQueue(
    { endpoint: aws.endpoint, queuePrefix: `${aws.runId}-`, maxReceiveCount: 7, leaseMs: 45_000 },
    { logger: testLogger },
  )
  t.after(() => first.close())
  const urls = await first.ensureQueue(name)
  const again = await first.ensureQueue(name)
  assert.deepEqual(again, urls)
  const later = new SqsQueue(
    { endpoint: aws.endpoint, queuePrefix: `${aws.runId}-`, maxReceiveCount: 9, leaseMs: 60_000 },
    { logger: testLogger },
  )
  t.after(() => later.close())
  await later.ensureQueue(name) // settings changed: attributes are updated, nothing is recreated
  const { Attributes } = await aws.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: urls.url,
      AttributeNames: ['RedrivePolicy', 'VisibilityTimeout'],
    }),
  )
  const policy = JSON.parse(Attributes!.RedrivePolicy!) as {
    deadLetterTargetArn: string
    maxReceiveCount: number | string
  }
  assert.match(policy.deadLetterTargetArn, new RegExp(`${name}-dlq$`))
  assert.equal(Number(policy.maxReceiveCount), 9)
  assert.equal(Attributes!.VisibilityTimeout, '60')
  // Without autoCreate, a queue that does not exist is a clear error.
  const strict = new SqsQueue(
    { endpoint: aws.endpoint, queuePrefix: `${aws.runId}-` },
    { logger: testLogger },
  )
  t.after(() => strict.close())
  await assert.rejects(strict.send('never-provisioned', env({})), {
    name: 'QueueUnavailableError',
    message: /run `npm run provision`/,
  })
})
