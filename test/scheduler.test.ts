import assert from 'node:assert/strict'
import { test } from 'node:test'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { ConfigError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { Scheduler } from '../src/scheduler.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { testLogger } from './support/async.ts'

test('scheduler: a bad cron pattern stops construction, every bad schedule listed', () => {
  const producer = new Producer({ queue: new MemoryQueue() })
  assert.throws(
    () =>
      new Scheduler({
        producer,
        logger: testLogger,
        schedules: [
          { name: 'nightly', cron: '0 3 * * *', job: 'x', payload: {} },
          { name: 'typo', cron: '61 * * * *', job: 'x', payload: {} },
          { name: 'nonsense', cron: 'every tuesday', job: 'x', payload: {} },
        ],
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      assert.equal(err.problems.length, 2)
      assert.match(err.problems[0]!, /^typo: invalid cron "61 \* \* \* \*"/)
      assert.match(err.problems[1]!, /^nonsense: invalid cron "every tuesday"/)
      return true
    },
  )
})

test('scheduler: each tick enqueues the job, which the worker runs; stop ends the ticks', async (t) => {
  const queue = new MemoryQueue()
  const ticks: number[] = []
  const tick = defineJob({
    type: 'test.tick',
    schema: Type.Object({ n: Type.Integer() }),
    handle: ({ n }) => {
      ticks.push(n)
    },
  })
  const registry = new JobRegistry([tick])
  const producer = new Producer({ queue, registry })
  const worker = new Worker({ queue, jobs: registry, logger: testLogger }).start()
  const outcomes = new JobOutcomes(worker)
  const scheduler = new Scheduler({
    producer,
    logger: testLogger,
    schedules: [{ name: 'every-second', cron: '* * * * * *', job: 'test.tick', payload: { n: 7 } }],
  }).start()
  t.after(async () => {
    scheduler.stop()
    await worker.stop()
    await queue.close()
  })
  const next = scheduler.nextRuns()[0]!
  assert.equal(next.name, 'every-second')
  assert.ok(next.next instanceof Date)
  await outcomes.waitUntil(
    (e) => e.type === 'test.tick' && e.outcome === 'success',
    'a scheduled tick',
    5_000,
  )
  assert.deepEqual(ticks.slice(0, 1), [7])
  scheduler.stop()
  assert.deepEqual(scheduler.nextRuns(), [])
})
