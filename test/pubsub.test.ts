import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import Type from 'typebox'
import { PubSubQueue } from '../adapters/pubsub/index.ts'
import { defineJob } from '../src/job.ts'
import { Producer } from '../src/producer.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { testLogger } from './support/async.ts'
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
    { autoCreate: true, topicPrefix: prefix, leaseMs: 10_000, relayHoldMs: 20_000 },
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
