import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, afterEach, before, test } from 'node:test'
import { ManualClock } from '../../src/clock.ts'
import { ResultTooLargeError, StoreUnavailableError } from '../../src/errors.ts'
import {
  countsRequests,
  type JobQuery,
  type JobRecord,
  type JobStore,
  type NewJobRecord,
} from '../../src/store/job-store.ts'
import type { JobStoreHarness, StoreOptions } from './job-store-harness.ts'

const HOUR = 3_600_000
const ERROR = { code: 'BOOM', message: 'it broke' }

/** Runs every job store case against one backend. Test names read `job store on <backend>: <case>`. */
export function runJobStoreConformance(h: JobStoreHarness): void {
  const caps = h.capabilities
  const name = (what: string) => `job store on ${h.name}: ${what}`
  const cleanups: (() => Promise<void>)[] = []
  const run = randomUUID().slice(0, 8)
  let seq = 0
  /** An id (or owner) no other case or earlier run against a shared backend uses. */
  const unique = (base: string) => `${base}-${run}-${++seq}`

  before(async () => {
    await h.setup?.()
  })
  after(async () => {
    await h.teardown?.()
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function open(options?: StoreOptions): Promise<JobStore> {
    const store = await h.createStore(options)
    cleanups.push(() => store.close())
    return store
  }

  /** A clock at real time (remote stores' TTL machinery must not see dates in the past), moved by hand. */
  const clockNow = () => new ManualClock(Date.now())

  function newJob(overrides: Partial<NewJobRecord> = {}): NewJobRecord {
    return {
      id: unique('job'),
      type: 'test.echo',
      queue: 'default',
      maxAttempts: 3,
      createdAt: Date.now(),
      ...overrides,
    }
  }

  async function mustGet(store: JobStore, id: string): Promise<JobRecord> {
    const record = await store.get(id)
    assert.ok(record, `record ${id} should exist`)
    return record
  }

  /** Every page of `query`, following cursors to the end. */
  async function listAll(store: JobStore, query: JobQuery): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await store.list({ ...query, ...(cursor ? { cursor } : {}) })
      pages++
      assert.ok(page.items.length <= (query.limit ?? 20), 'a page never exceeds its limit')
      if (!caps.shortPages && page.nextCursor) assert.equal(page.items.length, query.limit ?? 20)
      ids.push(...page.items.map((r) => r.id))
      cursor = page.nextCursor
      assert.ok(pages < 100, 'paging must end')
    } while (cursor)
    return { ids, pages }
  }

  test(
    name('create records a queued job and reads it back; a second create of the id changes nothing'),
    async () => {
      const clock = clockNow()
      const store = await open({ clock, recordTtlMs: HOUR })
      const job = newJob({ owner: unique('user'), createdAt: clock.now() - 5 })
      assert.equal(await store.create(job), true)
      const record = await mustGet(store, job.id)
      assert.equal(record.id, job.id)
      assert.equal(record.type, job.type)
      assert.equal(record.queue, job.queue)
      assert.equal(record.owner, job.owner)
      assert.equal(record.status, 'queued')
      assert.equal(record.attempts, 0)
      assert.equal(record.maxAttempts, 3)
      assert.equal(record.run, 1)
      assert.equal(record.createdAt, job.createdAt)
      assert.equal(record.updatedAt, clock.now())
      assert.ok(record.expiresAt >= clock.now() + HOUR, 'expires a TTL after its last write')
      assert.equal(record.result, undefined)
      assert.equal(record.error, undefined)

      assert.equal(await store.create({ ...job, type: 'other' }), false)
      assert.equal((await mustGet(store, job.id)).type, job.type)
      assert.equal(await store.get(unique('missing')), undefined)

      const delayed = newJob({ runAt: clock.now() + 60_000 })
      await store.create(delayed)
      const stored = await mustGet(store, delayed.id)
      assert.equal(stored.status, 'delayed')
      assert.equal(stored.runAt, delayed.runAt)
    },
  )

  test(
    name(
      'transitions in order: running, retrying with runAt and error, running again, succeeded with result',
    ),
    async () => {
      const clock = clockNow()
      const store = await open({ clock })
      const job = newJob()
      await store.create(job)
      const t1 = clock.now()
      assert.deepEqual(await store.transition(job.id, { status: 'running', attempt: 1, startedAt: t1 }), {
        applied: true,
      })
      let r = await mustGet(store, job.id)
      assert.equal(r.status, 'running')
      assert.equal(r.attempts, 1)
      assert.equal(r.startedAt, t1)

      clock.advance(100)
      const runAt = clock.now() + 5_000
      assert.equal(
        (await store.transition(job.id, { status: 'retrying', attempt: 1, runAt, error: ERROR })).applied,
        true,
      )
      r = await mustGet(store, job.id)
      assert.equal(r.status, 'retrying')
      assert.equal(r.runAt, runAt)
      assert.deepEqual(r.error, ERROR)

      clock.advance(5_000)
      const t2 = clock.now()
      assert.equal(
        (await store.transition(job.id, { status: 'running', attempt: 2, startedAt: t2 })).applied,
        true,
      )
      r = await mustGet(store, job.id)
      assert.equal(r.status, 'running')
      assert.equal(r.attempts, 2)
      assert.equal(r.startedAt, t2)
      assert.equal(r.runAt, undefined)

      clock.advance(100)
      const result = { rows: 3, file: 'a.csv', nested: { list: [1, 'two', null, [3]] } }
      assert.equal(
        (await store.transition(job.id, { status: 'succeeded', attempt: 2, result })).applied,
        true,
      )
      r = await mustGet(store, job.id)
      assert.equal(r.status, 'succeeded')
      assert.deepEqual(r.result, result)
      assert.equal(r.finishedAt, clock.now())
      assert.equal(r.updatedAt, clock.now())
      assert.equal(r.error, undefined, 'a success clears the last attempt error')
    },
  )

  test(
    name('stale writes are refused: a duplicate running, a stale running after succeeded, a second terminal'),
    async () => {
      const store = await open()
      const job = newJob()
      await store.create(job)
      assert.equal(
        (await store.transition(job.id, { status: 'running', attempt: 1, startedAt: 1 })).applied,
        true,
      )
      const dup = await store.transition(job.id, { status: 'running', attempt: 1, startedAt: 2 })
      assert.equal(dup.applied, false)
      assert.equal(dup.current?.status, 'running')
      assert.equal(dup.current?.startedAt, 1)

      assert.equal(
        (await store.transition(job.id, { status: 'succeeded', attempt: 1, result: 'ok' })).applied,
        true,
      )
      const stale = await store.transition(job.id, { status: 'running', attempt: 2, startedAt: 3 })
      assert.equal(stale.applied, false)
      assert.equal(stale.current?.status, 'succeeded', 'the refusal says what is stored')
      const second = await store.transition(job.id, { status: 'failed', attempt: 1, error: ERROR })
      assert.equal(second.applied, false, 'the first terminal write wins')
      const r = await mustGet(store, job.id)
      assert.equal(r.status, 'succeeded')
      assert.equal(r.result, 'ok')
      assert.equal(r.error, undefined)

      assert.deepEqual(
        await store.transition(unique('missing'), { status: 'running', attempt: 1, startedAt: 1 }),
        {
          applied: false,
        },
      )
    },
  )

  test(name("an older attempt's outcome arriving last never overwrites the newer attempt"), async () => {
    const store = await open()
    const job = newJob()
    await store.create(job)
    await store.transition(job.id, { status: 'running', attempt: 1, startedAt: 1 })
    // Attempt 1's lease ran out and attempt 2 started before attempt 1's retry was recorded.
    await store.transition(job.id, { status: 'running', attempt: 2, startedAt: 2 })
    const late = await store.transition(job.id, { status: 'retrying', attempt: 1, runAt: 10, error: ERROR })
    assert.equal(late.applied, false)
    assert.equal(late.current?.status, 'running')
    assert.equal(late.current?.attempts, 2)
    const lateStart = await store.transition(job.id, { status: 'running', attempt: 1, startedAt: 3 })
    assert.equal(lateStart.applied, false)
    const r = await mustGet(store, job.id)
    assert.equal(r.status, 'running')
    assert.equal(r.attempts, 2)
    assert.equal(r.startedAt, 2)
    assert.equal(r.error, undefined)
  })

  test(name('progress is recorded for the running attempt only'), async () => {
    const store = await open()
    const job = newJob()
    await store.create(job)
    assert.equal(await store.progress(job.id, { attempt: 1 }, { percent: 10 }), false, 'not running yet')
    await store.transition(job.id, { status: 'running', attempt: 1, startedAt: 1 })
    assert.equal(
      await store.progress(job.id, { attempt: 1, run: 1 }, { percent: 40, message: 'page 4 of 10' }),
      true,
    )
    assert.deepEqual((await mustGet(store, job.id)).progress, { percent: 40, message: 'page 4 of 10' })
    assert.equal(await store.progress(job.id, { attempt: 2 }, { percent: 90 }), false, 'another attempt')
    assert.equal(await store.progress(job.id, { attempt: 1, run: 2 }, { percent: 90 }), false, 'another run')
    assert.equal(await store.progress(job.id, { attempt: 1 }, { percent: 150 }), true)
    assert.deepEqual((await mustGet(store, job.id)).progress, { percent: 100 }, 'clamped to 100')
    await store.transition(job.id, { status: 'succeeded', attempt: 1 })
    assert.equal(await store.progress(job.id, { attempt: 1 }, { percent: 5 }), false, 'finished')
    assert.deepEqual((await mustGet(store, job.id)).progress, { percent: 100 })
    assert.equal(await store.progress(unique('missing'), { attempt: 1 }, { percent: 5 }), false)
  })

  test(name('a result past the cap rejects with ResultTooLargeError and writes nothing'), async () => {
    const store = await open({ resultMaxBytes: 1_000 })
    const job = newJob()
    await store.create(job)
    await store.transition(job.id, { status: 'running', attempt: 1, startedAt: 1 })
    const big = { text: 'x'.repeat(1_000) }
    await assert.rejects(
      store.transition(job.id, { status: 'succeeded', attempt: 1, result: big }),
      (err) => {
        assert.ok(err instanceof ResultTooLargeError)
        assert.equal(err.name, 'ResultTooLargeError')
        assert.equal(err.code, 'RESULT_TOO_LARGE')
        assert.equal(err.limitBytes, 1_000)
        assert.equal(err.bytes, Buffer.byteLength(JSON.stringify(big)))
        return true
      },
    )
    assert.equal((await mustGet(store, job.id)).status, 'running', 'nothing was written')
    const fits = { text: 'é'.repeat(490) } // 980 bytes of UTF-8 plus the JSON around it
    assert.equal(
      (await store.transition(job.id, { status: 'succeeded', attempt: 1, result: fits })).applied,
      true,
    )
    assert.deepEqual((await mustGet(store, job.id)).result, fits)
  })

  test(name("list by owner: the owner's jobs newest first, page by page with a cursor"), async () => {
    const store = await open()
    const owner = unique('user')
    const base = Date.now()
    const ids: string[] = []
    for (let i = 0; i < 7; i++) {
      const job = newJob({ owner, createdAt: base + i * 10 })
      ids.push(job.id)
      await store.create(job)
    }
    await store.create(newJob({ owner: unique('someone-else'), createdAt: base + 35 }))
    const first = await store.list({ owner, limit: 3 })
    assert.deepEqual(
      first.items.map((r) => r.id),
      [ids[6], ids[5], ids[4]],
    )
    assert.ok(first.nextCursor)
    const all = await listAll(store, { owner, limit: 3 })
    assert.deepEqual(all.ids, [...ids].reverse(), 'every job once, newest first, none of another owner')
    assert.ok(all.pages >= 3)
    const whole = await store.list({ owner, limit: 100 })
    assert.equal(whole.items.length, 7)
    assert.equal(whole.nextCursor, undefined)
  })

  test(name('list filters by status, type and queue'), async () => {
    const store = await open()
    const owner = unique('user')
    const base = Date.now()
    const a = newJob({ owner, createdAt: base, type: 'mail.send', queue: 'critical' })
    const b = newJob({ owner, createdAt: base + 1, type: 'export.csv' })
    const c = newJob({ owner, createdAt: base + 2, type: 'mail.send' })
    const d = newJob({ owner, createdAt: base + 3, type: 'mail.send', queue: 'critical' })
    for (const job of [a, b, c, d]) await store.create(job)
    await store.transition(b.id, { status: 'running', attempt: 1, startedAt: 1 })
    await store.transition(c.id, { status: 'running', attempt: 1, startedAt: 1 })
    await store.transition(c.id, { status: 'failed', attempt: 1, error: ERROR })
    await store.transition(d.id, { status: 'running', attempt: 1, startedAt: 1 })

    assert.deepEqual((await listAll(store, { owner, status: 'running', limit: 1 })).ids, [d.id, b.id])
    assert.deepEqual((await listAll(store, { owner, type: 'mail.send' })).ids, [d.id, c.id, a.id])
    assert.deepEqual((await listAll(store, { owner, type: 'mail.send', status: 'queued' })).ids, [a.id])
    assert.deepEqual((await listAll(store, { owner, status: 'failed' })).ids, [c.id])
    assert.deepEqual((await listAll(store, { owner, queue: 'critical', status: 'running' })).ids, [d.id])

    // Without an owner (an admin's view): every match across owners, newest first where the backend can.
    const other = newJob({ owner: unique('user'), createdAt: base + 4, queue: unique('q') })
    const mine = newJob({ owner, createdAt: base + 5, queue: other.queue })
    await store.create(other)
    await store.create(mine)
    const byQueue = await listAll(store, { queue: other.queue, status: 'queued', limit: 1 })
    if (caps.orderedListWithoutOwner) assert.deepEqual(byQueue.ids, [mine.id, other.id])
    else assert.deepEqual([...byQueue.ids].sort(), [mine.id, other.id].sort())
  })

  test(
    name('cancel of a queued or delayed job makes it cancelled at once; a later start is refused'),
    async () => {
      const store = await open()
      const queued = newJob()
      const delayed = newJob({ runAt: Date.now() + HOUR })
      await store.create(queued)
      await store.create(delayed)
      assert.equal(await store.requestCancel(queued.id), 'cancelled')
      assert.equal(await store.requestCancel(delayed.id), 'cancelled')
      for (const id of [queued.id, delayed.id]) {
        const r = await mustGet(store, id)
        assert.equal(r.status, 'cancelled')
        assert.equal(r.runAt, undefined)
        assert.ok(r.finishedAt)
      }
      const start = await store.transition(queued.id, { status: 'running', attempt: 1, startedAt: 1 })
      assert.equal(start.applied, false)
      assert.equal(start.current?.status, 'cancelled', 'the worker learns it is cancelled and acks it')
      assert.equal(await store.requestCancel(queued.id), 'finished')
      assert.equal(await store.requestCancel(unique('missing')), 'not_found')
    },
  )

  test(name('cancel of a running job is requested and another reader sees the flag'), async () => {
    const api = await open()
    const worker = await open()
    const job = newJob()
    await api.create(job)
    await worker.transition(job.id, { status: 'running', attempt: 1, startedAt: 1 })
    assert.equal(await api.requestCancel(job.id), 'requested')
    const seen = await mustGet(worker, job.id)
    assert.equal(seen.status, 'running')
    assert.equal(seen.cancelRequested, true)
    assert.equal((await worker.transition(job.id, { status: 'cancelled', attempt: 1 })).applied, true)
    const r = await mustGet(api, job.id)
    assert.equal(r.status, 'cancelled')
    assert.equal(r.cancelRequested, undefined)
    assert.equal(await api.requestCancel(job.id), 'finished')
  })

  test(name('a retry of a job asked to stop ends cancelled instead of retrying'), async () => {
    const store = await open()
    const job = newJob()
    await store.create(job)
    await store.transition(job.id, { status: 'running', attempt: 1, startedAt: 1 })
    assert.equal(await store.requestCancel(job.id), 'requested')
    const retry = await store.transition(job.id, { status: 'retrying', attempt: 1, runAt: 5, error: ERROR })
    assert.equal(retry.applied, false)
    assert.equal(retry.current?.status, 'cancelled')
    assert.equal((await mustGet(store, job.id)).status, 'cancelled')
    assert.equal(
      (await store.transition(job.id, { status: 'running', attempt: 2, startedAt: 2 })).applied,
      false,
    )
  })

  test(name('reopen starts a new run of a finished job; writes from the older run are refused'), async () => {
    const store = await open()
    const job = newJob()
    await store.create(job)
    assert.equal(await store.reopen(job.id), false, 'not finished')
    await store.transition(job.id, { status: 'running', run: 1, attempt: 1, startedAt: 1 })
    assert.equal(await store.reopen(job.id), false, 'still running')
    await store.transition(job.id, { status: 'failed', run: 1, attempt: 1, error: ERROR })
    assert.equal(await store.reopen(job.id), true)
    let r = await mustGet(store, job.id)
    assert.equal(r.status, 'queued')
    assert.equal(r.run, 2)
    assert.equal(r.attempts, 0)
    assert.equal(r.error, undefined)
    assert.equal(r.finishedAt, undefined)

    const old = await store.transition(job.id, { status: 'running', run: 1, attempt: 2, startedAt: 2 })
    assert.equal(old.applied, false, 'a write from the older run')
    assert.equal(old.current?.run, 2)
    assert.equal(
      (await store.transition(job.id, { status: 'running', run: 2, attempt: 1, startedAt: 3 })).applied,
      true,
    )
    assert.equal((await store.transition(job.id, { status: 'succeeded', run: 1, attempt: 1 })).applied, false)
    assert.equal(
      (await store.transition(job.id, { status: 'succeeded', run: 2, attempt: 1, result: 7 })).applied,
      true,
    )
    r = await mustGet(store, job.id)
    assert.equal(r.status, 'succeeded')
    assert.equal(r.result, 7)
    assert.equal(await store.reopen(unique('missing')), false)
  })

  test(name('records expire a TTL after they finish; an expired record reads as absent'), async () => {
    const clock = clockNow()
    const ttl = 10_000
    const store = await open({ clock, recordTtlMs: ttl })
    const owner = unique('user')
    const job = newJob({ owner })
    await store.create(job)
    clock.advance(ttl / 2)
    await store.transition(job.id, { status: 'running', attempt: 1, startedAt: clock.now() })
    await store.transition(job.id, { status: 'succeeded', attempt: 1 })
    const finishedAt = clock.now()
    assert.ok((await mustGet(store, job.id)).expiresAt >= finishedAt + ttl)

    clock.advance(ttl - 1 - caps.expiryGranularityMs)
    assert.ok(await store.get(job.id), 'still there just before its expiry')
    clock.advance(1 + 2 * caps.expiryGranularityMs)
    assert.equal(await store.get(job.id), undefined)
    assert.deepEqual((await store.list({ owner })).items, [])
    assert.deepEqual(await store.transition(job.id, { status: 'failed', attempt: 1, error: ERROR }), {
      applied: false,
    })
    assert.equal(await store.requestCancel(job.id), 'not_found')
    assert.equal(await store.create(job), true, 'its id is free again')
  })

  test(name('100 concurrent claims of one key: exactly one wins, every loser sees its value'), async () => {
    const clock = clockNow()
    // Four processes' worth of store instances, so the race is on the backend, not only inside one.
    const stores = [
      await open({ clock }),
      await open({ clock }),
      await open({ clock }),
      await open({ clock }),
    ]
    const key = unique('claim')
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => stores[i % stores.length]!.claim(key, `caller-${i}`, 60_000)),
    )
    const winners = results.flatMap((r, i) => (r.won ? [`caller-${i}`] : []))
    assert.equal(winners.length, 1)
    for (const r of results) if (!r.won) assert.equal(r.value, winners[0])

    assert.equal(await stores[0]!.release(key, 'not-the-holder'), false)
    assert.equal(await stores[0]!.release(key, winners[0]), true)
    assert.deepEqual(await stores[1]!.claim(key, 'next', 60_000), { won: true })
    clock.advance(60_000 + caps.expiryGranularityMs)
    assert.deepEqual(
      await stores[0]!.claim(key, 'after-expiry', 1_000),
      { won: true },
      'an expired claim is absent',
    )
    assert.deepEqual(await stores[1]!.claim(key, 'late', 1_000), { won: false, value: 'after-expiry' })
    assert.equal(await stores[1]!.release(unique('none')), false)
  })

  test(
    name('50 concurrent counter adds total exactly 50; the window starts again after it ends'),
    async () => {
      const clock = clockNow()
      const stores = [await open({ clock }), await open({ clock })]
      const key = unique('counter')
      const totals = await Promise.all(
        Array.from({ length: 50 }, (_, i) => stores[i % 2]!.add(key, 1, 60_000)),
      )
      assert.deepEqual(
        [...totals].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
        'every add saw a distinct total',
      )
      assert.equal(await stores[0]!.add(key, -5, 60_000), 45)
      clock.advance(60_000 + caps.expiryGranularityMs)
      assert.equal(await stores[1]!.add(key, 2, 60_000), 2, 'a new window')
      assert.equal(await stores[0]!.add(key, 3, 60_000), 5)
    },
  )

  test(name('a job that succeeds on its first attempt costs three writes, each counted'), async () => {
    const store = await open()
    assert.ok(countsRequests(store), 'the store counts its requests')
    const before = { reads: store.requests.reads, writes: store.requests.writes }
    const job = newJob()
    await store.create(job)
    await store.transition(job.id, { status: 'running', attempt: 1, startedAt: 1 })
    await store.transition(job.id, { status: 'succeeded', attempt: 1, result: { ok: true } })
    assert.equal(store.requests.writes - before.writes, 3)
    assert.ok(store.requests.reads - before.reads <= caps.readsPerTransition * 2)
    assert.ok([...store.requests.byOperation.values()].reduce((a, b) => a + b, 0) > 0)
  })

  test(name('countByStatus counts records by queue and status'), async () => {
    const store = await open()
    const queue = unique('q')
    const jobs = [newJob({ queue }), newJob({ queue }), newJob({ queue }), newJob({ queue })]
    for (const job of jobs) await store.create(job)
    await store.transition(jobs[0]!.id, { status: 'running', attempt: 1, startedAt: 1 })
    await store.transition(jobs[1]!.id, { status: 'running', attempt: 1, startedAt: 1 })
    await store.transition(jobs[1]!.id, { status: 'succeeded', attempt: 1 })
    const counts = await store.countByStatus()
    assert.deepEqual(counts[queue], { queued: 2, running: 1, succeeded: 1 })
  })

  for (const kind of caps.remote ? (['closed', 'stalled'] as const) : (['closed'] as const)) {
    test(
      name(`an unreachable store (${kind}) rejects every call with StoreUnavailableError, nothing hangs`),
      async () => {
        const { store, stop } = await h.createUnreachableStore(kind)
        // Cleanups run last-in first-out: the backend comes back, then the store closes.
        cleanups.push(() => store.close())
        cleanups.push(stop)
        const job = newJob()
        const calls: [string, () => Promise<unknown>][] = [
          ['ping', () => store.ping()],
          ['create', () => store.create(job)],
          ['get', () => store.get(job.id)],
          ['transition', () => store.transition(job.id, { status: 'running', attempt: 1, startedAt: 1 })],
          ['requestCancel', () => store.requestCancel(job.id)],
          ['list', () => store.list({ owner: 'someone' })],
          ['claim', () => store.claim('k', 'v', 1_000)],
          ['add', () => store.add('k', 1, 1_000)],
        ]
        const outcomes = await Promise.allSettled(calls.map(([, call]) => call()))
        outcomes.forEach((outcome, i) => {
          assert.equal(outcome.status, 'rejected', `${calls[i]![0]} should reject`)
          const reason = (outcome as PromiseRejectedResult).reason
          assert.ok(reason instanceof StoreUnavailableError, `${calls[i]![0]}: ${String(reason)}`)
          assert.equal(reason.code, 'STORE_UNAVAILABLE')
        })
      },
    )
  }
}
