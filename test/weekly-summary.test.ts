import assert from 'node:assert/strict'
import { test } from 'node:test'
import Type from 'typebox'
import { MemoryJobStore, MemoryQueue } from '../adapters/memory/index.ts'
import { listUserSource, type SummaryUser } from '../handlers/email/users.ts'
import {
  weeklySummaryFanoutJob,
  weeklySummarySchedule,
  weekStartOf,
} from '../handlers/email/weekly-fanout.ts'
import { ManualClock } from '../src/clock.ts'
import { defineJob } from '../src/job.ts'
import { JobLedger } from '../src/ledger/ledger.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { Scheduler } from '../src/scheduler.ts'
import { testLogger } from './support/async.ts'

const users = (n: number): SummaryUser[] =>
  Array.from({ length: n }, (_, i) => ({ id: `u${i}`, email: `u${i}@example.com`, name: `User ${i}` }))

/** The summary job as the fan-out sees it: only its type, queue and schema matter here. */
const summary = defineJob({
  type: 'email.weekly-summary',
  queue: 'emails',
  schema: Type.Object({
    to: Type.String(),
    name: Type.String(),
    owner: Type.String(),
    weekStart: Type.String(),
  }),
  handle: () => {},
})

function setup(userCount: number, options: { perSecond?: number; batchSize?: number } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 0, 4, 9))
  const store = new MemoryJobStore({}, { clock })
  const queue = new MemoryQueue({}, { clock })
  const registry = new JobRegistry([summary])
  const producer = new Producer({
    queue,
    registry,
    clock,
    ledger: new JobLedger({ store, clock, logger: testLogger }),
  })
  const fanout = weeklySummaryFanoutJob({
    producer,
    users: listUserSource(users(userCount)),
    clock,
    ...options,
  })
  registry.register(fanout)
  const context = { signal: new AbortController().signal, log: testLogger } as never
  const summaries = async () => (await queue.stats('emails')).ready
  return { clock, store, queue, producer, fanout, context, summaries }
}

test('weekly summary: the fan-out enqueues one email.weekly-summary per user; a second run of the same week enqueues nothing', async () => {
  const s = setup(250, { perSecond: 1_000_000 })
  const first = await s.fanout.handle({ weekStart: '2025-12-29' }, s.context)
  assert.deepEqual(first, { weekStart: '2025-12-29', users: 250 })
  assert.equal(await s.summaries(), 250)
  await s.fanout.handle({ weekStart: '2025-12-29' }, s.context)
  assert.equal(await s.summaries(), 250, 'idempotency keys per user per week: nothing twice')
  await s.fanout.handle({ weekStart: '2026-01-05' }, s.context)
  assert.equal(await s.summaries(), 500, 'the next week is new')
  const records = await s.store.list({ owner: 'u7', limit: 10 })
  assert.deepEqual(
    records.items.map((r) => r.type),
    ['email.weekly-summary', 'email.weekly-summary'],
    "each user's summaries are recorded as theirs",
  )
})

test('weekly summary: the fan-out is paced to perSecond, batch by batch (no flood)', async () => {
  const s = setup(300, { perSecond: 100, batchSize: 100 })
  const run = s.fanout.handle({ weekStart: '2025-12-29' }, s.context)
  const settle = () => new Promise((resolve) => setImmediate(resolve))
  for (let i = 0; i < 20; i++) await settle()
  assert.equal(await s.summaries(), 100, 'the first batch, then a pause of one second')
  s.clock.advance(999)
  for (let i = 0; i < 20; i++) await settle()
  assert.equal(await s.summaries(), 100, 'still paused just before the second is up')
  s.clock.advance(1)
  for (let i = 0; i < 20; i++) await settle()
  assert.equal(await s.summaries(), 200)
  s.clock.advance(1000)
  await run
  assert.equal(await s.summaries(), 300)
})

test('weekly summary: scheduled Sundays 09:00 UTC for the week ending that day; each tick fans out once across schedulers', async () => {
  assert.equal(weeklySummarySchedule.cron, '0 9 * * 0')
  assert.equal(
    weekStartOf(Date.UTC(2026, 0, 4, 9)),
    '2025-12-29',
    'Sunday 4 January belongs to the week of Monday 29 December',
  )
  assert.equal(weekStartOf(Date.UTC(2025, 11, 29, 0)), '2025-12-29', 'a Monday starts its own week')
  const clock = new ManualClock(Date.UTC(2026, 0, 3, 12))
  const store = new MemoryJobStore({}, { clock })
  const queue = new MemoryQueue({}, { clock })
  const registry = new JobRegistry([summary])
  const ticks: string[] = []
  const schedulers = [1, 2, 3].map(() => {
    const producer = new Producer({
      queue,
      registry,
      clock,
      ledger: new JobLedger({ store, clock, logger: testLogger }),
    })
    if (!registry.get('email.weekly-summary-fanout'))
      registry.register(weeklySummaryFanoutJob({ producer, users: listUserSource(users(3)), clock }))
    const scheduler = new Scheduler({
      producer,
      logger: testLogger,
      schedules: [weeklySummarySchedule],
      clock,
    })
    scheduler.onTick((e) => e.outcome === 'enqueued' && ticks.push(new Date(e.tick).toISOString()))
    return scheduler.start()
  })
  clock.advance(24 * 3_600_000)
  await Promise.all(schedulers.map((s) => s.settled()))
  for (const s of schedulers) s.stop()
  assert.deepEqual(
    ticks,
    ['2026-01-04T09:00:00.000Z'],
    'one fan-out for the Sunday tick across three schedulers',
  )
  assert.equal((await queue.stats('emails')).ready, 1, 'one fan-out job on the queue')
})
