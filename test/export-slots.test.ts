import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { v7 } from 'uuid'
import { MemoryJobStore, MemoryQueue } from '../adapters/memory/index.ts'
import { createHandlers } from '../handlers/index.ts'
import { LimitExceededError } from '../src/errors.ts'
import { JobLedger } from '../src/ledger/ledger.ts'
import { OutboxMailer } from '../src/mail/outbox.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { FsObjectStore } from '../src/storage/fs-store.ts'
import type { JobStore } from '../src/store/job-store.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { testLogger } from './support/async.ts'

/** The object store, counting the lists and reads that export records cost. */
class CountingStore extends FsObjectStore {
  lists = 0
  gets = 0
  override list(prefix: string) {
    this.lists++
    return super.list(prefix)
  }
  override get(key: string) {
    this.gets++
    return super.get(key)
  }
}

/** `n` API processes: separate export services over one object store, one queue and one job store. */
async function apiProcesses(n: number, t: { after(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-slots-'))
  // Whatever the test starts stops first (newest first), then the folder goes.
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })]
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })
  const objects = new CountingStore(dir)
  const queue = new MemoryQueue()
  const store: JobStore = new MemoryJobStore()
  const registries: JobRegistry[] = []
  const apis = Array.from({ length: n }, () => {
    const registry = new JobRegistry()
    const producer = new Producer({ queue, registry, ledger: new JobLedger({ store, logger: testLogger }) })
    const handlers = createHandlers({
      store: objects,
      mailer: new OutboxMailer(join(dir, 'outbox'), 'conveyor@example.com'),
      producer,
      secret: 'a-secret-that-is-long-enough-for-links',
      appUrl: 'http://localhost',
      exportTtlMs: 3_600_000,
      pdfMaxRows: 100,
      maxActiveExportsPerUser: 3,
      emailsPerRecipientPerHour: 10,
    })
    for (const job of handlers.jobs) registry.register(job)
    registries.push(registry)
    return handlers.exports
  })
  return {
    apis,
    store,
    queue,
    objects,
    registries,
    onClose: (fn: () => Promise<unknown>) => cleanups.push(fn),
  }
}

const csv = { kind: 'activities', format: 'csv' as const }

test('export cap: six parallel requests for one user over two API processes: exactly three accepted', async (t) => {
  const { apis } = await apiProcesses(2, t)
  const results = await Promise.allSettled(
    Array.from({ length: 6 }, (_, i) => apis[i % 2]!.request('alice', csv)),
  )
  const accepted = results.filter((r) => r.status === 'fulfilled')
  const refused = results.filter((r) => r.status === 'rejected')
  assert.equal(accepted.length, 3)
  assert.equal(refused.length, 3)
  for (const r of refused) assert.ok((r as PromiseRejectedResult).reason instanceof LimitExceededError)
  const slots = accepted.map((r) => (r as PromiseFulfilledResult<{ slot?: number }>).value.slot).sort()
  assert.deepEqual(slots, [0, 1, 2], 'each accepted export holds its own slot')
  assert.ok(await apis[0]!.request('bob', csv), 'another user has slots of their own')
})

test('export cap: a deleted export gives its slot back, to either API process', async (t) => {
  const { apis } = await apiProcesses(2, t)
  const held = [
    await apis[0]!.request('alice', csv),
    await apis[1]!.request('alice', csv),
    await apis[0]!.request('alice', csv),
  ]
  await assert.rejects(apis[1]!.request('alice', csv), LimitExceededError)
  assert.equal(await apis[1]!.remove('alice', held[1]!.id), true)
  const next = await apis[1]!.request('alice', csv)
  assert.equal(next.slot, held[1]!.slot)
})

test('export cap: counting reads no records: taking a free slot is one claim, however long the history', async (t) => {
  const { apis, store, objects } = await apiProcesses(1, t)
  const counted = store as MemoryJobStore
  for (let i = 0; i < 20; i++) {
    const e = await apis[0]!.request('alice', csv)
    await apis[0]!.records.put({ ...e, status: 'completed' }) // a long history of finished exports
    await apis[0]!.release(e)
  }
  const claims = counted.requests.byOperation.get('claim') ?? 0
  const lists = objects.lists
  const gets = objects.gets
  await apis[0]!.request('alice', csv)
  assert.equal((counted.requests.byOperation.get('claim') ?? 0) - claims, 1, 'one claim')
  assert.equal(objects.lists - lists, 0, 'no listing of the user exports')
  assert.equal(objects.gets - gets, 0, 'no read of any export record')
})

test('export cap: a slot whose holder died (no record a minute on) or finished without giving it back heals', async (t) => {
  const { apis, store } = await apiProcesses(1, t)
  // A process claimed slot 0 two minutes ago and died before writing the record.
  const dead = v7({ msecs: Date.now() - 120_000 })
  assert.equal((await store.claim('export-slot:alice:0', dead, 86_400_000)).won, true)
  // A process claimed slot 1 just now and is writing its record: that one must be left alone.
  const young = v7()
  assert.equal((await store.claim('export-slot:alice:1', young, 86_400_000)).won, true)
  const a = await apis[0]!.request('alice', csv)
  assert.equal(a.slot, 2)
  const healed = await apis[0]!.request('alice', csv)
  assert.equal(healed.slot, 0, 'the dead holder slot was released and taken')
  await assert.rejects(apis[0]!.request('alice', csv), LimitExceededError, 'the young holder keeps its slot')
})

test('export cap: a completed export gives its slot back (the worker process releases it)', async (t) => {
  const { apis, queue, registries, onClose } = await apiProcesses(2, t)
  const worker = new Worker({ queue, jobs: registries[1]!, logger: testLogger }).start()
  const outcomes = new JobOutcomes(worker)
  onClose(async () => {
    await worker.stop()
    await queue.close()
  })
  const builds = () =>
    outcomes.events.filter((o) => o.type === 'exports.build' && o.outcome === 'success').length
  for (let i = 0; i < 3; i++) await apis[0]!.request('alice', csv)
  await outcomes.waitUntil(() => builds() === 3, 'three builds to complete')
  const again = await Promise.allSettled([0, 1, 2, 3].map(() => apis[1]!.request('alice', csv)))
  assert.deepEqual(
    again.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
    'three slots free again, and still three at most',
  )
})
