import assert from 'node:assert/strict'
import { test } from 'node:test'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { MemoryJobStore } from '../adapters/memory/job-store.ts'
import { ManualClock } from '../src/clock.ts'
import { createEnvelope, type Envelope } from '../src/envelope.ts'
import { IdempotencyConflictError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { enqueueOnce } from '../src/ledger/idempotency.ts'
import { JobLedger } from '../src/ledger/ledger.ts'
import { Metrics } from '../src/metrics.ts'
import { Producer } from '../src/producer.ts'
import type { JobStore } from '../src/store/job-store.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { deferred, testLogger } from './support/async.ts'

function counterJob(runs: string[]) {
  return defineJob({
    type: 'test.count',
    schema: Type.Object({ n: Type.Integer() }),
    handle: ({ n }, { id }) => {
      runs.push(id)
      return n
    },
  })
}

test('ledger: a second delivery of a job that already finished is acked without running', async (t) => {
  const runs: string[] = []
  const job = counterJob(runs)
  const queue = new MemoryQueue()
  const store = new MemoryJobStore()
  const ledger = new JobLedger({ store, logger: testLogger })
  const producer = new Producer({ queue, ledger })
  const worker = new Worker({ queue, jobs: [job], logger: testLogger, ledger }).start()
  const outcomes = new JobOutcomes(worker)
  t.after(async () => {
    await worker.stop()
    await queue.close()
    ledger.close()
  })
  const envelope = await producer.enqueue(job, { n: 1 })
  await outcomes.waitFor(envelope.id, 'success')
  await queue.send('default', envelope) // the broker hands the same message out again
  await outcomes.waitFor(envelope.id, 'duplicate')
  assert.deepEqual(runs, [envelope.id])
  assert.equal((await store.get(envelope.id))?.status, 'succeeded')
  assert.equal((await queue.stats('default')).inFlight, 0)
})

test('ledger: a succeeding job costs three store writes (create, running, succeeded) and no reads', async (t) => {
  const runs: string[] = []
  const job = counterJob(runs)
  const queue = new MemoryQueue()
  const store = new MemoryJobStore()
  const ledger = new JobLedger({ store, logger: testLogger })
  const worker = new Worker({ queue, jobs: [job], logger: testLogger, ledger }).start()
  const outcomes = new JobOutcomes(worker)
  t.after(async () => {
    await worker.stop()
    await queue.close()
    ledger.close()
  })
  const producer = new Producer({ queue, ledger })
  const sent = await producer.enqueueMany(job, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }])
  for (const e of sent) await outcomes.waitFor(e.id, 'success')
  assert.equal(store.requests.writes, 12)
  assert.equal(store.requests.reads, 0)
  for (const e of sent) assert.equal((await store.get(e.id))?.status, 'succeeded')
})

/** A store that accepts every call and never answers (a stalled network peer). */
function stalledStore(): JobStore {
  return new Proxy({ driver: 'stalled' } as JobStore, {
    get: (target, prop) => (prop === 'driver' ? target.driver : () => new Promise(() => {})),
  })
}

test('ledger: a job store that stops answering neither loses nor blocks a job: it runs, the writes time out and are counted', async (t) => {
  const runs: string[] = []
  const job = counterJob(runs)
  const queue = new MemoryQueue()
  const metrics = new Metrics()
  const ledger = new JobLedger({ store: stalledStore(), logger: testLogger, metrics, timeoutMs: 40 })
  const worker = new Worker({ queue, jobs: [job], logger: testLogger, ledger, metrics }).start()
  const outcomes = new JobOutcomes(worker)
  t.after(async () => {
    await worker.stop()
    await queue.close()
    ledger.close()
  })
  const envelope = await new Producer({ queue, ledger }).enqueue(job, { n: 7 })
  await outcomes.waitFor(envelope.id, 'success')
  assert.deepEqual(runs, [envelope.id])
  const text = await metrics.registry.metrics()
  assert.match(text, /conveyor_job_store_errors_total\{op="timeout"\} [2-9]/)
})

function onceRequest(
  store: JobStore,
  sent: Envelope[],
  overrides: { now: number; hash?: string; hang?: () => void },
) {
  const envelope = createEnvelope({
    type: 'test.count',
    payload: { n: 1 },
    maxAttempts: 3,
    now: overrides.now,
  })
  return enqueueOnce(store, {
    key: 'k1',
    ttlMs: 86_400_000,
    hash: overrides.hash ?? 'same-body',
    envelope,
    record: {
      id: envelope.id,
      type: 'test.count',
      queue: 'default',
      maxAttempts: 3,
      createdAt: overrides.now,
    },
    send: async (e) => {
      if (overrides.hang) {
        overrides.hang()
        return new Promise(() => {}) // the process died before its send finished
      }
      sent.push(e)
    },
    onSendFailed: () => {},
    now: overrides.now,
    graceMs: 30_000,
  })
}

test('ledger: idempotent enqueue after a crash between claim and send: a repeat answers 409 in progress, then takes the send over under the first id', async () => {
  const clock = new ManualClock()
  const store = new MemoryJobStore({}, { clock })
  const sent: Envelope[] = []
  const t0 = clock.now()
  const sending = deferred()
  void onceRequest(store, sent, { now: t0, hang: sending.resolve })
  await sending.promise // the first request claimed the key and recorded the job, then died sending
  const [firstId] = (await store.list({})).items.map((r) => r.id)
  assert.ok(firstId)
  clock.advance(1_000)
  await assert.rejects(onceRequest(store, sent, { now: clock.now() }), (err: unknown) => {
    assert.ok(err instanceof IdempotencyConflictError)
    assert.equal(err.inProgress, true)
    return true
  })
  assert.equal(sent.length, 0)
  clock.advance(30_000)
  const takeover = await onceRequest(store, sent, { now: clock.now() })
  assert.equal(takeover.id, firstId)
  assert.deepEqual(
    sent.map((e) => e.id),
    [firstId],
  )
  const later = await onceRequest(store, sent, { now: clock.now() })
  assert.deepEqual(later, { id: firstId, duplicate: true, enqueuedAt: t0 })
  assert.equal(sent.length, 1)
  await assert.rejects(
    onceRequest(store, sent, { now: clock.now(), hash: 'other-body' }),
    /different request body/,
  )
})

test('ledger: 20 concurrent enqueues with one key send one job; every answer names it or says it is in progress', async () => {
  const store = new MemoryJobStore()
  const sent: Envelope[] = []
  const now = Date.now()
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, () => onceRequest(store, sent, { now })),
  )
  assert.equal(sent.length, 1)
  for (const r of results) {
    if (r.status === 'fulfilled') assert.equal(r.value.id, sent[0]!.id)
    else assert.ok(r.reason instanceof IdempotencyConflictError && r.reason.inProgress, String(r.reason))
  }
  assert.equal(results.filter((r) => r.status === 'fulfilled' && !r.value.duplicate).length, 1)
})
