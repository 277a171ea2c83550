import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createSigner } from 'fast-jwt'
import Type from 'typebox'
import { MemoryJobStore, MemoryQueue } from '../adapters/memory/index.ts'
import { ManualClock } from '../src/clock.ts'
import { ConfigError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { JobLedger } from '../src/ledger/ledger.ts'
import { Metrics } from '../src/metrics.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { type Schedule, Scheduler, type TickEvent } from '../src/scheduler.ts'
import { buildApp } from '../src/service/http/app.ts'
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

const SECRET = 'test-secret-that-is-long-enough-for-hs256'

/** N scheduler processes over one store and one queue, on a manual clock (each with its own producer and ledger). */
function deployment(schedules: Schedule[], processes = 2, start = Date.UTC(2026, 0, 4, 0, 0, 0, 500)) {
  const clock = new ManualClock(start)
  const store = new MemoryJobStore({}, { clock })
  const queue = new MemoryQueue({}, { clock })
  const registry = new JobRegistry([
    defineJob({ type: 'test.tick', schema: Type.Object({}), handle: () => {} }),
  ])
  const events: TickEvent[] = []
  const make = () => {
    const ledger = new JobLedger({ store, clock, logger: testLogger })
    const producer = new Producer({ queue, registry, clock, ledger })
    const scheduler = new Scheduler({ producer, logger: testLogger, schedules, clock })
    scheduler.onTick((e) => events.push(e))
    return scheduler
  }
  const schedulers = Array.from({ length: processes }, make)
  const settled = () => Promise.all(schedulers.map((s) => s.settled()))
  /** Moves time one step at a time, letting every process finish each tick before the next. */
  const advance = async (ms: number, step = 1000) => {
    for (let left = ms; left > 0; left -= step) {
      clock.advance(Math.min(step, left))
      await settled()
    }
  }
  const enqueued = () => events.filter((e) => e.outcome === 'enqueued')
  const finish = async (id: string) => {
    await store.transition(id, { status: 'running', startedAt: clock.now(), attempt: 1 })
    await store.transition(id, { status: 'succeeded', attempt: 1 })
  }
  return { clock, store, queue, schedulers, events, settled, advance, enqueued, finish, make }
}

test('scheduler: two processes over one store enqueue each tick exactly once', async () => {
  const d = deployment([
    { name: 'every-second', cron: '* * * * * *', job: 'test.tick', payload: {}, overlap: 'allow' },
  ])
  for (const s of d.schedulers) s.start()
  await d.advance(10_000)
  for (const s of d.schedulers) s.stop()
  const ticks = d.enqueued().map((e) => e.tick)
  assert.equal(ticks.length, 10, 'ten ticks, ten enqueues')
  assert.equal(new Set(ticks).size, 10, 'each tick once')
  assert.equal(
    d.events.filter((e) => e.outcome === 'taken').length,
    10,
    'the other process saw each tick taken',
  )
  assert.equal((await d.queue.stats('default')).ready, 10, 'ten messages on the queue')
  assert.deepEqual(
    ticks.slice(0, 2).map((t) => new Date(t).toISOString()),
    ['2026-01-04T00:00:01.000Z', '2026-01-04T00:00:02.000Z'],
    'ticks are the cron times (UTC), not the moment a timer fired',
  )
})

test('scheduler: overlap skip leaves out ticks while the previous run is unfinished; allow enqueues every tick', async () => {
  const d = deployment(
    [
      { name: 'careful', cron: '* * * * *', job: 'test.tick', payload: {} },
      { name: 'eager', cron: '* * * * *', job: 'test.tick', payload: {}, overlap: 'allow' },
    ],
    3,
  )
  for (const s of d.schedulers) s.start()
  await d.advance(60_000)
  const first = d.enqueued().find((e) => e.schedule === 'careful')!
  assert.ok(first.jobId)
  await d.advance(60_000)
  const skipped = d.events.filter((e) => e.schedule === 'careful' && e.outcome === 'skipped')
  assert.equal(skipped.length, 1, 'the second tick is skipped, once across three processes')
  assert.equal(skipped[0]!.jobId, first.jobId, 'because of the first run, still queued')
  await d.finish(first.jobId!)
  await d.advance(60_000)
  for (const s of d.schedulers) s.stop()
  const careful = d.enqueued().filter((e) => e.schedule === 'careful')
  const eager = d.enqueued().filter((e) => e.schedule === 'eager')
  assert.equal(careful.length, 2, 'ticks 1 and 3 (after the first run finished)')
  assert.equal(eager.length, 3, 'allow: all three ticks')
})

test('scheduler: catch-up latest runs the latest missed tick once when schedulers come back; none forgets it', async () => {
  const d = deployment([
    { name: 'hourly', cron: '0 * * * *', job: 'test.tick', payload: {}, catchUp: 'latest' },
    { name: 'forgetful', cron: '0 * * * *', job: 'test.tick', payload: {} },
  ])
  // First start: nothing ran before, so there is nothing to catch up.
  for (const s of d.schedulers) s.start()
  await d.settled()
  assert.equal(d.enqueued().length, 0, 'a schedule that never ran has nothing to catch up')
  await d.advance(3_600_000, 60_000)
  assert.equal(d.enqueued().length, 2, '01:00 fired for both schedules')
  for (const e of d.enqueued()) await d.finish(e.jobId!)
  for (const s of d.schedulers) s.stop()
  // Every scheduler is down over 02:00, 03:00 and 04:00.
  d.clock.advance(3 * 3_600_000 + 1_800_000)
  const back = [d.make(), d.make()]
  for (const s of back) s.start()
  await Promise.all(back.map((s) => s.settled()))
  for (const s of back) s.stop()
  const caught = d.enqueued().filter((e) => e.catchUp)
  assert.equal(caught.length, 1, 'one catch-up run across both processes')
  assert.equal(caught[0]!.schedule, 'hourly')
  assert.equal(new Date(caught[0]!.tick).toISOString(), '2026-01-04T04:00:00.000Z', 'the latest missed tick')
})

test('scheduler: list gives next run times (UTC); run enqueues a schedule now; an unknown name is undefined', async () => {
  const d = deployment(
    [
      { name: 'weekly', cron: '0 9 * * 0', job: 'test.tick', payload: {} },
      { name: 'hourly', cron: '17 * * * *', job: 'test.tick', payload: {}, overlap: 'allow' },
    ],
    1,
  )
  const [scheduler] = d.schedulers
  assert.deepEqual(
    scheduler!.list().map((s) => [s.name, s.nextRunAt, s.overlap, s.catchUp]),
    [
      ['hourly', '2026-01-04T00:17:00.000Z', 'allow', 'none'],
      ['weekly', '2026-01-04T09:00:00.000Z', 'skip', 'none'],
    ],
  )
  const id = await scheduler!.run('weekly')
  assert.ok(id)
  const record = await d.store.get(id)
  assert.equal(record?.owner, 'schedule:weekly')
  assert.equal(await scheduler!.run('nope'), undefined)
})

test('scheduler: bad overlap, catchUp and a repeated name are all listed', () => {
  const producer = new Producer({ queue: new MemoryQueue() })
  assert.throws(
    () =>
      new Scheduler({
        producer,
        logger: testLogger,
        schedules: [
          { name: 'a', cron: '* * * * *', job: 'x', payload: {}, overlap: 'sometimes' as never },
          { name: 'a', cron: '* * * * *', job: 'x', payload: {}, catchUp: 'all' as never },
        ],
      }),
    (err: unknown) => err instanceof ConfigError && err.problems.length === 3,
  )
})

test('scheduler over HTTP: GET /v1/admin/schedules lists next runs, POST /v1/admin/schedules/:name/run enqueues one job, admins only', async (t) => {
  const d = deployment([{ name: 'weekly', cron: '0 9 * * 0', job: 'test.tick', payload: {} }], 1)
  const [scheduler] = d.schedulers
  const registry = new JobRegistry([
    defineJob({ type: 'test.tick', schema: Type.Object({}), handle: () => {} }),
  ])
  const ledger = new JobLedger({ store: d.store, clock: d.clock, logger: testLogger })
  const app = await buildApp({
    services: {
      queue: d.queue,
      registry,
      metrics: new Metrics(),
      producer: new Producer({ queue: d.queue, registry, ledger }),
      ledger,
      scheduler,
      readinessQueue: 'default',
    },
    jwtSecret: SECRET,
    logger: testLogger,
  })
  t.after(() => app.close())
  const sign = createSigner({ key: SECRET, algorithm: 'HS256' })
  const admin = { authorization: `Bearer ${sign({ sub: 'ops', role: 'admin' })}` }
  const user = { authorization: `Bearer ${sign({ sub: 'ada' })}` }
  const list = await app.inject({ method: 'GET', url: '/v1/admin/schedules', headers: admin })
  assert.equal(list.statusCode, 200)
  assert.deepEqual(list.json(), {
    items: [
      {
        name: 'weekly',
        cron: '0 9 * * 0',
        job: 'test.tick',
        overlap: 'skip',
        catchUp: 'none',
        nextRunAt: '2026-01-04T09:00:00.000Z',
      },
    ],
  })
  assert.equal(
    (await app.inject({ method: 'GET', url: '/v1/admin/schedules', headers: user })).statusCode,
    403,
  )
  const run = await app.inject({ method: 'POST', url: '/v1/admin/schedules/weekly/run', headers: admin })
  assert.equal(run.statusCode, 202)
  const { id } = run.json() as { id: string }
  assert.equal(run.headers.location, `/v1/jobs/${id}`)
  assert.equal((await d.queue.stats('default')).ready, 1)
  assert.equal((await d.store.get(id))?.owner, 'schedule:weekly')
  const missing = await app.inject({ method: 'POST', url: '/v1/admin/schedules/nope/run', headers: admin })
  assert.equal(missing.statusCode, 404)
  assert.match((missing.json() as { message: string }).message, /no schedule nope/)
})
