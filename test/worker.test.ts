import assert from 'node:assert/strict'
import { test } from 'node:test'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { backoffDelay } from '../src/backoff.ts'
import { ManualClock, systemClock } from '../src/clock.ts'
import { createEnvelope } from '../src/envelope.ts'
import { ConfigError, JobTimeoutError, LeaseLostError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { Metrics } from '../src/metrics.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { Settler } from '../src/settler.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { deferred, eventually, testLogger } from './support/async.ts'
import { withFailingExtensions } from './support/failing-extensions.ts'

const Empty = Type.Object({})

test('worker: a timed-out handler is aborted with JobTimeoutError and retried', async (t) => {
  const queue = new MemoryQueue()
  t.after(() => queue.close())
  const reasons: unknown[] = []
  const slow = defineJob({
    type: 'slow',
    schema: Empty,
    timeoutMs: 30,
    maxAttempts: 2,
    backoff: { baseMs: 1, maxMs: 1 },
    handle: (_p, { signal }) =>
      new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => {
          reasons.push(signal.reason)
          reject(signal.reason)
        }),
      ),
  })
  const worker = new Worker({ queue, jobs: [slow], logger: testLogger }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  const { id } = await new Producer({ queue }).enqueue(slow, {})
  assert.equal((await outcomes.waitFor(id, 'timeout')).attempt, 1)
  const dead = await outcomes.waitFor(id, 'dead_letter')
  assert.equal(dead.deadLetterCode, 'max_attempts')
  assert.ok(reasons[0] instanceof JobTimeoutError)
  assert.equal((reasons[0] as JobTimeoutError).messageId, id)
  const [letter] = await queue.peekDeadLetters('default')
  assert.equal(letter?.info.error?.name, 'JobTimeoutError')
})

test('worker: a handler that ignores its abort frees its slot and is counted as abandoned', async (t) => {
  const queue = new MemoryQueue()
  t.after(() => queue.close())
  const release = deferred()
  const started: string[] = []
  const stubborn = defineJob({
    type: 'stubborn',
    schema: Type.Object({ name: Type.String() }),
    timeoutMs: 20,
    maxAttempts: 1,
    handle: async ({ name }) => {
      started.push(name)
      if (name === 'zombie') await release.promise // ignores the signal entirely
    },
  })
  const worker = new Worker({ queue, jobs: [stubborn], concurrency: 1, logger: testLogger }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  const producer = new Producer({ queue })
  const zombie = await producer.enqueue(stubborn, { name: 'zombie' })
  const next = await producer.enqueue(stubborn, { name: 'next' })
  await outcomes.waitFor(zombie.id, 'dead_letter')
  await outcomes.waitFor(next.id, 'success') // ran in the only slot while the zombie still runs
  assert.deepEqual(started, ['zombie', 'next'])
  assert.equal(worker.abandoned, 1)
  assert.match(
    await worker.metrics.registry.getSingleMetricAsString('conveyor_jobs_abandoned'),
    /conveyor_jobs_abandoned 1/,
  )
  release.resolve()
  await release.promise
  await new Promise((r) => setImmediate(r))
  assert.equal(worker.abandoned, 0)
})

test('worker: metrics count outcomes and durations', async (t) => {
  const queue = new MemoryQueue()
  t.after(() => queue.close())
  const ok = defineJob({ type: 'ok', schema: Empty, handle: () => {} })
  const worker = new Worker({ queue, jobs: [ok], logger: testLogger }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  const producer = new Producer({ queue, metrics: worker.metrics })
  const sent = await producer.enqueueMany(ok, [{}, {}, {}])
  await Promise.all(sent.map((e) => outcomes.waitFor(e.id)))
  const text = await worker.metrics.registry.metrics()
  assert.match(text, /conveyor_jobs_enqueued_total\{queue="default",type="ok"\} 3/)
  assert.match(text, /conveyor_job_attempts_total\{queue="default",type="ok",outcome="success"\} 3/)
  assert.match(text, /conveyor_job_duration_seconds_count\{queue="default",type="ok"\} 3/)
  assert.match(text, /conveyor_queue_messages\{queue="default",state="ready"\} 0/)
})

test('worker: invalid options are reported all at once', () => {
  const queue = new MemoryQueue()
  assert.throws(
    () => new Worker({ queue, jobs: [], concurrency: 0, shutdownGraceMs: -1, weights: { a: 0 } }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.length === 3 &&
      err.problems.some((p) => p.startsWith('concurrency must be >= 1')) &&
      err.problems.some((p) => p.startsWith('shutdownGraceMs must be >= 0')) &&
      err.problems.some((p) => p.startsWith('weights.a must be >= 1')),
  )
})

test('registry: a type can be registered only once', () => {
  const a = defineJob({ type: 'same', schema: Empty, handle: () => {} })
  const b = defineJob({ type: 'same', schema: Empty, handle: () => {} })
  assert.throws(() => new JobRegistry([a, b]), { name: 'ConveyorError', code: 'DUPLICATE_JOB_TYPE' })
})

test('defineJob: every bad setting is listed', () => {
  assert.throws(
    () =>
      defineJob({
        type: 'bad type!',
        queue: '',
        schema: Empty,
        timeoutMs: 0,
        maxAttempts: 0,
        handle: () => {},
      }),
    (err: unknown) => err instanceof ConfigError && err.problems.length === 4,
  )
})

test('producer: an invalid payload is refused before anything is sent', async () => {
  const queue = new MemoryQueue()
  const typed = defineJob({
    type: 'typed',
    schema: Type.Object({ to: Type.String({ format: 'email' }) }),
    handle: () => {},
  })
  await assert.rejects(new Producer({ queue }).enqueue(typed, { to: 'nope' }), {
    name: 'InvalidPayloadError',
    code: 'INVALID_PAYLOAD',
    message: /to must match format "email"/,
  })
  assert.equal((await queue.stats('default')).ready, 0)
})

test('backoff: full jitter stays within the exponential ceiling, capped', () => {
  const b = { baseMs: 100, maxMs: 1000 }
  assert.equal(
    backoffDelay(1, b, () => 0.999),
    99,
  )
  assert.equal(
    backoffDelay(3, b, () => 0.999),
    399,
  )
  assert.equal(
    backoffDelay(10, b, () => 0.999),
    999,
  )
  assert.equal(
    backoffDelay(10, b, () => 0),
    0,
  )
  for (let attempt = 1; attempt < 30; attempt++) {
    const d = backoffDelay(attempt, b)
    assert.ok(d >= 0 && d <= 1000)
  }
})

test('worker: a second delivery of a message already running here is not started; it is acked when the first run succeeds', async (t) => {
  const queue = new MemoryQueue()
  t.after(() => queue.close())
  const gate = deferred()
  const started = deferred()
  let runs = 0
  const once = defineJob({
    type: 'once',
    schema: Empty,
    handle: async () => {
      runs++
      started.resolve()
      await gate.promise
    },
  })
  const worker = new Worker({ queue, jobs: [once], concurrency: 4, logger: testLogger }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  // The same envelope twice: as when a lease ran out and the broker handed the message out again.
  const envelope = createEnvelope({ type: 'once', payload: {}, maxAttempts: 5, now: Date.now() })
  await queue.send('default', envelope)
  await started.promise
  await queue.send('default', envelope)
  await eventually(async () => (await queue.stats('default')).ready === 0, 'the twin to be taken')
  assert.equal(runs, 1)
  assert.equal(worker.running, 1, 'the twin holds no slot')
  gate.resolve()
  await outcomes.waitFor(envelope.id, 'success')
  await eventually(async () => (await queue.stats('default')).inFlight === 0, 'both deliveries settled')
  assert.equal(runs, 1, 'never started twice')
  assert.deepEqual(await queue.stats('default'), { ready: 0, inFlight: 0, delayed: 0, deadLettered: 0 })
  assert.match(
    await worker.metrics.registry.getSingleMetricAsString('conveyor_duplicate_deliveries_total'),
    /conveyor_duplicate_deliveries_total\{queue="default"\} 1/,
  )
})

test('worker: a lease that cannot be extended aborts the handler with LeaseLostError; nothing is acked and the metric counts it', async (t) => {
  const queue = withFailingExtensions(new MemoryQueue())
  t.after(() => queue.close())
  const reasons: unknown[] = []
  const attempts: number[] = []
  const long = defineJob({
    type: 'long',
    schema: Empty,
    timeoutMs: 5_000,
    handle: (_p, { signal, attempt }) => {
      attempts.push(attempt)
      if (attempt > 1) return
      return new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => {
          reasons.push(signal.reason)
          reject(signal.reason)
        }),
      )
    },
  })
  const worker = new Worker({ queue, jobs: [long], leaseMs: 300, logger: testLogger }).start()
  t.after(() => worker.stop())
  const outcomes = new JobOutcomes(worker)
  const { id } = await new Producer({ queue }).enqueue(long, {})
  await outcomes.waitFor(id, 'lease_lost')
  assert.ok(reasons[0] instanceof LeaseLostError)
  assert.equal((reasons[0] as LeaseLostError).messageId, id)
  assert.equal(worker.running, 0, 'the fenced run holds no slot')
  // Not acked, not retried: the memory lease runs out and the message comes back as attempt 2.
  assert.equal((await outcomes.waitFor(id, 'success')).attempt, 2)
  assert.deepEqual(attempts, [1, 2])
  assert.deepEqual(outcomes.of(id), ['lease_lost', 'success'])
  assert.match(
    await worker.metrics.registry.getSingleMetricAsString('conveyor_leases_lost_total'),
    /conveyor_leases_lost_total\{queue="default"\} 1/,
  )
})

test('settler: a settlement on a lease that ran out is reported lost (not success) and not retried', async (t) => {
  const clock = new ManualClock()
  const queue = new MemoryQueue({ leaseMs: 1000 }, { clock })
  t.after(() => queue.close())
  await queue.send('q', createEnvelope({ type: 'x', payload: {}, maxAttempts: 5, now: clock.now() }))
  const [delivery] = queue.consume('q', { prefetch: 1, onReadable: () => {} }).take(1)
  clock.advance(1000)
  const metrics = new Metrics()
  const settler = new Settler(clock, testLogger, metrics, 100)
  let tries = 0
  settler.settle(delivery!, () => {
    tries++
    return delivery!.ack()
  })
  await settler.idle()
  assert.equal(tries, 1)
  assert.match(
    await metrics.registry.getSingleMetricAsString('conveyor_leases_lost_total'),
    /\{queue="q"\} 1/,
  )
  assert.match(
    await metrics.registry.getSingleMetricAsString('conveyor_settle_errors_total'),
    /\{queue="q"\} 1/,
  )
  assert.equal((await queue.stats('q')).ready, 1, 'the message is still there to run again')
})

test('settler: a settlement that fails while the lease holds is tried again until it succeeds', async (t) => {
  const queue = new MemoryQueue({ leaseMs: 30_000 })
  t.after(() => queue.close())
  await queue.send('q', createEnvelope({ type: 'x', payload: {}, maxAttempts: 5, now: Date.now() }))
  const [delivery] = queue.consume('q', { prefetch: 1, onReadable: () => {} }).take(1)
  const metrics = new Metrics()
  const settler = new Settler(systemClock, testLogger, metrics, 5_000)
  let tries = 0
  settler.settle(delivery!, () => {
    tries++
    // The first two tries meet an outage; the backend never sees them.
    return tries <= 2 ? Promise.reject(new Error('connect ECONNREFUSED')) : delivery!.ack()
  })
  await settler.idle()
  assert.equal(tries, 3)
  assert.deepEqual(await queue.stats('q'), { ready: 0, inFlight: 0, delayed: 0, deadLettered: 0 })
  assert.doesNotMatch(await metrics.registry.getSingleMetricAsString('conveyor_settle_errors_total'), /\} \d/)
})
