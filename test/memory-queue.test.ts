import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { ManualClock } from '../src/clock.ts'
import { createEnvelope } from '../src/envelope.ts'
import { ConfigError, QueueClosedError, QueueFullError } from '../src/errors.ts'

const env = (n: number, now = Date.now()) =>
  createEnvelope({ type: 't', payload: { n }, maxAttempts: 3, now })

test('memory: a full queue refuses sends with QueueFullError and loses nothing already in it', async (t) => {
  const queue = new MemoryQueue({ capacity: 2 })
  t.after(() => queue.close())
  await queue.send('q', env(1))
  await queue.send('q', env(2))
  await assert.rejects(
    queue.send('q', env(3)),
    (err: unknown) => err instanceof QueueFullError && /capacity 2/.test(err.message),
  )
  await assert.rejects(queue.sendBatch('q2', [env(1), env(2), env(3)]), QueueFullError)
  assert.equal((await queue.stats('q2')).ready, 0, 'a batch that does not fit is refused whole')
  assert.equal((await queue.stats('q')).ready, 2)
})

test('memory: a seven-day delay is held on the clock, not by a timer per message', async (t) => {
  const clock = new ManualClock()
  const queue = new MemoryQueue({}, { clock })
  t.after(() => queue.close())
  const week = 7 * 24 * 3600 * 1000
  for (let i = 0; i < 1000; i++) await queue.send('q', env(i, clock.now()), { delayMs: week })
  let readable = 0
  const consumer = queue.consume('q', { prefetch: 1, onReadable: () => readable++ })
  clock.advance(week - 1)
  assert.deepEqual(await queue.stats('q'), { ready: 0, inFlight: 0, delayed: 1000, deadLettered: 0 })
  assert.equal(consumer.take(1).length, 0)
  clock.advance(1)
  assert.equal((await queue.stats('q')).ready, 1000)
  assert.ok(readable > 0)
  const [d] = consumer.take(1)
  assert.equal(d?.attempt, 1)
})

test('memory: settling twice is refused; settling after the lease ran out reports LeaseLostError', async (t) => {
  const clock = new ManualClock()
  const queue = new MemoryQueue({ leaseMs: 1000 }, { clock })
  t.after(() => queue.close())
  await queue.send('q', env(1, clock.now()))
  const consumer = queue.consume('q', { prefetch: 1, onReadable: () => {} })
  const [first] = consumer.take(1)
  clock.advance(1000)
  await assert.rejects(first!.ack(), { name: 'LeaseLostError', code: 'LEASE_LOST' })
  await assert.rejects(first!.ack(), { name: 'AlreadySettledError' })
  const [second] = consumer.take(1)
  assert.equal(second?.attempt, 2)
  await second!.ack()
  assert.deepEqual(await queue.stats('q'), { ready: 0, inFlight: 0, delayed: 0, deadLettered: 0 })
})

test('memory: redrive by id moves only those messages', async (t) => {
  const queue = new MemoryQueue()
  t.after(() => queue.close())
  const consumer = queue.consume('q', { prefetch: 3, onReadable: () => {} })
  const sent = [env(1), env(2), env(3)]
  await queue.sendBatch('q', sent)
  for (const d of consumer.take(3)) await d.deadLetter({ code: 'non_retryable', message: 'test' })
  assert.equal(await queue.redrive('q', { ids: [sent[1]!.id] }), 1)
  const [back] = consumer.take(3)
  assert.equal(back?.id, sent[1]!.id)
  assert.equal(back?.attempt, 1)
  assert.deepEqual(
    (await queue.peekDeadLetters('q')).map((d) => d.id),
    [sent[0]!.id, sent[2]!.id],
  )
})

test('memory: options are validated at construction; calls after close are refused', async () => {
  assert.throws(
    () => new MemoryQueue({ capacity: 0, leaseMs: -5 }),
    (e: unknown) => e instanceof ConfigError && e.problems.length === 2,
  )
  const queue = new MemoryQueue()
  await queue.close()
  await assert.rejects(queue.send('q', env(1)), QueueClosedError)
})
