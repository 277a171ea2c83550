import assert from 'node:assert/strict'
import { test } from 'node:test'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { backoffDelay } from '../src/backoff.ts'
import { ConfigError, JobTimeoutError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { deferred, testLogger } from './support/async.ts'

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
