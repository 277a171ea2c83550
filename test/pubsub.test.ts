import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import Type from 'typebox'
import { PubSubDelivery } from '../adapters/pubsub/delivery.ts'
import { PubSubQueue } from '../adapters/pubsub/index.ts'
import { createEnvelope } from '../src/envelope.ts'
import { LeaseLostError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { Producer } from '../src/producer.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { deferred, eventually, testLogger } from './support/async.ts'
import { type PubSubEmulator, pubsubSkipReason, startPubSubEmulator } from './support/pubsub-emulator.ts'

const skip = pubsubSkipReason()
let emulator: PubSubEmulator | undefined
const prefix = `p${Date.now().toString(36)}-`

before(async () => {
  if (!skip) emulator = await startPubSubEmulator()
})
after(async () => {
  await emulator?.stop()
})

test('pubsub: after the emulator restarts (all state gone), resources are made again and consumers recover; nothing is lost', {
  skip,
}, async (t) => {
  const queue = new PubSubQueue(
    { autoCreate: true, topicPrefix: prefix, leaseMs: 10_000, relayHoldMs: 20_000, pullWaitMs: 500 },
    { logger: testLogger },
  )
  t.after(() => queue.close())
  const seen = new Set<number>()
  const job = defineJob({
    type: 'test.restart',
    queue: 'restart',
    schema: Type.Object({ n: Type.Integer() }),
    handle: ({ n }) => void seen.add(n),
  })
  const worker = new Worker({ queue, jobs: [job], logger: testLogger }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  const producer = new Producer({ queue })
  const before = await producer.enqueueMany(
    job,
    Array.from({ length: 10 }, (_, n) => ({ n })),
  )
  await Promise.all(before.map((e) => outcomes.waitFor(e.id, 'success', 20_000)))

  await emulator!.restart()
  const afterRestart = await producer.enqueueMany(
    job,
    Array.from({ length: 10 }, (_, n) => ({ n: 100 + n })),
  )
  const delayed = await producer.enqueue(job, { n: 999 }, { delayMs: 1_000 })
  await Promise.all([...afterRestart, delayed].map((e) => outcomes.waitFor(e.id, 'success', 30_000)))
  assert.equal(seen.size, 21)
})

test('pubsub: without autoCreate, a missing subscription is a clear error', { skip }, async (t) => {
  const queue = new PubSubQueue({ topicPrefix: prefix }, { logger: testLogger })
  t.after(() => queue.close())
  const job = defineJob({
    type: 'test.nowhere',
    queue: 'never-provisioned',
    schema: Type.Object({}),
    handle: () => {},
  })
  await assert.rejects(new Producer({ queue }).enqueue(job, {}), {
    name: 'QueueUnavailableError',
    message: /run `npm run provision`/,
  })
})

test('pubsub: a consumer whose subscription is missing retries with backoff, is reported not consuming, and starts once it exists', {
  skip,
}, async (t) => {
  const queue = new PubSubQueue(
    { topicPrefix: prefix, leaseMs: 10_000, pullWaitMs: 500 },
    { logger: testLogger },
  )
  t.after(() => queue.close())
  let ran = 0
  const job = defineJob({
    type: 'test.late',
    queue: 'provisioned-late',
    schema: Type.Object({}),
    handle: () => void ran++,
  })
  const worker = new Worker({ queue, jobs: [job], logger: testLogger }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  assert.deepEqual(worker.notConsuming, ['provisioned-late'])
  await queue.ensureQueue('provisioned-late') // as `npm run provision` would, after the worker started
  await eventually(() => worker.notConsuming.length === 0, 'the consumer to start', { timeoutMs: 15_000 })
  const sent = await new Producer({ queue }).enqueue(job, {})
  await outcomes.waitFor(sent.id, 'success', 20_000)
  assert.equal(ran, 1)
})

test('pubsub: closing a consumer hands back every message it pulled, the buffered ones and what a pull under way brings', {
  skip,
}, async (t) => {
  // A 60 s ack deadline: a message held and not handed back would be stuck for a minute.
  const options = { autoCreate: true, topicPrefix: prefix, leaseMs: 60_000, pullWaitMs: 500 }
  const first = new PubSubQueue(options, { logger: testLogger })
  t.after(() => first.close())
  const name = 'handback'
  const seen = new Set<number>()
  const gate = deferred()
  const started = deferred()
  const job = defineJob({
    type: 'test.handback',
    queue: name,
    schema: Type.Object({ n: Type.Integer() }),
    handle: async ({ n }) => {
      seen.add(n)
      started.resolve()
      await gate.promise
    },
  })
  const producer = new Producer({ queue: first })
  await first.ensureQueue(name)
  const sent = await producer.enqueueMany(
    job,
    Array.from({ length: 40 }, (_, n) => ({ n })),
  )
  const busy = new Worker({
    queue: first,
    jobs: [job],
    concurrency: 1,
    prefetch: 1,
    logger: testLogger,
  }).start()
  const done = new Set<string>()
  busy.onOutcome((e) => e.outcome === 'success' && done.add(e.id))
  await started.promise
  const stopping = busy.stop(0)
  gate.resolve() // the running job finishes as the worker stops: its ack must not be lost at close
  await stopping
  await first.close()
  const second = new PubSubQueue(options, { logger: testLogger })
  t.after(() => second.close())
  const after = new Worker({ queue: second, jobs: [job], concurrency: 8, logger: testLogger }).start()
  t.after(() => after.stop())
  const outcomes = new JobOutcomes(after)
  const rest = sent.filter((e) => !done.has(e.id))
  assert.ok(rest.length >= 38, 'the first worker ran at most two (one running, one buffered)')
  await Promise.all(rest.map((e) => outcomes.waitFor(e.id, 'success', 20_000)))
  assert.equal(seen.size, 40)
})

test('pubsub: after its consumer closed, a taken delivery still extends its lease and acks', {
  skip,
}, async (t) => {
  const queue = new PubSubQueue(
    { autoCreate: true, topicPrefix: prefix, leaseMs: 10_000, pullWaitMs: 500 },
    { logger: testLogger },
  )
  t.after(() => queue.close())
  const name = 'afterclose'
  await queue.ensureQueue(name)
  const readable = deferred()
  const consumer = queue.consume(name, {
    prefetch: 1,
    onReadable: () => readable.resolve(),
  })
  await queue.send(name, createEnvelope({ type: 'x', payload: {}, maxAttempts: 5, now: Date.now() }))
  await readable.promise
  const [delivery] = consumer.take(1)
  await consumer.close() // no more pulls; the job would still be running
  const before = delivery!.leaseExpiresAt
  await delivery!.extendLease(20_000)
  assert.ok(delivery!.leaseExpiresAt > before)
  await delivery!.ack()
  // Nothing comes back: a fresh consumer sees no message.
  const again = queue.consume(name, { prefetch: 1, onReadable: () => {} })
  t.after(() => again.close())
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  assert.deepEqual(again.take(1), [])
})

test('pubsub: an ack id the service does not know fails only its own ack (LeaseLostError), not the others batched with it', {
  skip,
}, async (t) => {
  const queue = new PubSubQueue(
    { autoCreate: true, topicPrefix: prefix, leaseMs: 10_000, pullWaitMs: 500, batchFlushMs: 50 },
    { logger: testLogger },
  )
  t.after(() => queue.close())
  const name = 'unknown-ack'
  const names = await queue.ensureQueue(name)
  const readable = deferred()
  const consumer = queue.consume(name, { prefetch: 1, onReadable: () => readable.resolve() })
  t.after(() => consumer.close())
  const sent = createEnvelope({ type: 'x', payload: {}, maxAttempts: 5, now: Date.now() })
  await queue.send(name, sent)
  await readable.promise
  const [real] = consumer.take(1)
  // As after an emulator restart: a delivery whose ack id the service never issued.
  const stranger = new PubSubDelivery(
    queue,
    name,
    names.subscription,
    { ackId: 'not-an-ack-id', message: { messageId: 'm-stranger', data: Buffer.from('{}') } },
    { envelope: { ...sent, id: 'stranger' } },
    Date.now() + 10_000,
  )
  // Within one flush window, so both ack ids go out in one Acknowledge request.
  const [acked, refused] = await Promise.allSettled([real!.ack(), stranger.ack()])
  assert.equal(acked.status, 'fulfilled', 'the real delivery is acked')
  assert.equal(refused.status, 'rejected')
  assert.ok((refused as PromiseRejectedResult).reason instanceof LeaseLostError)
  assert.equal(((refused as PromiseRejectedResult).reason as LeaseLostError).messageId, 'stranger')
  // The real one is gone for good: pulled at once, the subscription has nothing.
  assert.deepEqual(await queue.pull(names.subscription, 10, 0), [])
})
