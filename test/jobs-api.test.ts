import assert from 'node:assert/strict'
import { test } from 'node:test'
import Type from 'typebox'
import { JobCancelledError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { deferred } from './support/async.ts'
import { cancel, get, ledgerStack, post, tokens } from './support/ledger.ts'

/** Sums `{ n }`; fails `failTimes` times first when asked. */
function sumJob(runs: string[] = []) {
  return defineJob({
    type: 'test.sum',
    schema: Type.Object({ n: Type.Integer({ minimum: 0 }) }),
    publishable: true,
    maxAttempts: 3,
    backoff: { baseMs: 1, maxMs: 1 },
    handle: ({ n }, { id }) => {
      runs.push(id)
      return { total: (n * (n + 1)) / 2 }
    },
  })
}

test('jobs api: a job enqueued over HTTP is followed to succeeded with its result', async (t) => {
  const s = await ledgerStack([sumJob()])
  t.after(() => s.close())
  const res = await post(s.app, { type: 'test.sum', payload: { n: 10 } })
  assert.equal(res.statusCode, 202)
  const body = res.json() as { id: string; type: string; status: string; statusUrl: string }
  assert.equal(body.type, 'test.sum')
  assert.equal(body.status, 'queued')
  assert.equal(body.statusUrl, `/v1/jobs/${body.id}`)
  assert.equal(res.headers.location, `/v1/jobs/${body.id}`)
  await s.outcomes.waitFor(body.id, 'success')
  const view = await get(s.app, body.statusUrl)
  assert.equal(view.statusCode, 200)
  const record = view.json()
  assert.equal(record.status, 'succeeded')
  assert.deepEqual(record.result, { total: 55 })
  assert.equal(record.attempts, 1)
  assert.equal(record.owner, 'alice')
  assert.ok(Date.parse(record.finishedAt) >= Date.parse(record.createdAt))
  assert.ok(Date.parse(record.expiresAt) > Date.parse(record.finishedAt))
})

test('jobs api: a job that fails once is recorded with both attempts and its success', async (t) => {
  let calls = 0
  const flaky = defineJob({
    type: 'test.flaky',
    schema: Type.Object({}),
    publishable: true,
    maxAttempts: 3,
    backoff: { baseMs: 1, maxMs: 1 },
    handle: () => {
      if (++calls === 1) throw new Error('first try fails')
      return 'ok'
    },
  })
  const s = await ledgerStack([flaky])
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.flaky', payload: {} })).json()
  await s.outcomes.waitFor(id, 'success')
  assert.deepEqual(s.outcomes.of(id), ['retry', 'success'])
  const record = (await get(s.app, `/v1/jobs/${id}`)).json()
  assert.equal(record.status, 'succeeded')
  assert.equal(record.attempts, 2)
  assert.equal(record.result, 'ok')
  assert.equal(record.error, undefined)
})

test('jobs api: a job that exhausts its attempts is failed with the reason', async (t) => {
  const doomed = defineJob({
    type: 'test.doomed',
    schema: Type.Object({}),
    publishable: true,
    maxAttempts: 2,
    backoff: { baseMs: 1, maxMs: 1 },
    handle: () => {
      throw new Error('always broken')
    },
  })
  const s = await ledgerStack([doomed])
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.doomed', payload: {} })).json()
  await s.outcomes.waitFor(id, 'dead_letter')
  const record = (await get(s.app, `/v1/jobs/${id}`)).json()
  assert.equal(record.status, 'failed')
  assert.equal(record.attempts, 2)
  assert.equal(record.error.code, 'max_attempts')
  assert.match(record.error.message, /always broken/)
})

test('jobs api: a job cancelled while delayed never runs; its delivery is acked and it stays cancelled', async (t) => {
  const runs: string[] = []
  const s = await ledgerStack([sumJob(runs)])
  t.after(() => s.close())
  const res = await post(s.app, { type: 'test.sum', payload: { n: 1 }, delayMs: 150 })
  const { id, status } = res.json()
  assert.equal(status, 'delayed')
  assert.equal((await get(s.app, `/v1/jobs/${id}`)).json().status, 'delayed')
  const cancelled = await cancel(s.app, id)
  assert.equal(cancelled.statusCode, 202)
  assert.deepEqual(cancelled.json(), { id, status: 'cancelled' })
  await s.outcomes.waitFor(id, 'cancelled')
  assert.deepEqual(runs, [])
  assert.deepEqual(s.outcomes.of(id), ['cancelled'])
  assert.equal((await get(s.app, `/v1/jobs/${id}`)).json().status, 'cancelled')
  assert.equal((await s.queue.stats('default')).inFlight, 0)
  assert.equal((await s.queue.stats('default')).ready, 0)
  // A finished job cannot be cancelled again.
  assert.equal((await cancel(s.app, id)).statusCode, 409)
})

test('jobs api: a job cancelled while running has its signal fired, ends cancelled and is not retried', async (t) => {
  const started = deferred()
  let reason: unknown
  const slow = defineJob({
    type: 'test.slow',
    schema: Type.Object({}),
    publishable: true,
    maxAttempts: 5,
    timeoutMs: 60_000,
    handle: (_p, { signal }) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          reason = signal.reason
          reject(signal.reason)
        })
        started.resolve()
      }),
  })
  const s = await ledgerStack([slow])
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.slow', payload: {} })).json()
  await started.promise
  assert.equal((await get(s.app, `/v1/jobs/${id}`)).json().status, 'running')
  const res = await cancel(s.app, id)
  assert.equal(res.statusCode, 202)
  assert.deepEqual(res.json(), { id, status: 'running', cancelRequested: true })
  await s.outcomes.waitFor(id, 'cancelled')
  assert.ok(reason instanceof JobCancelledError)
  assert.deepEqual(s.outcomes.of(id), ['cancelled'])
  const record = (await get(s.app, `/v1/jobs/${id}`)).json()
  assert.equal(record.status, 'cancelled')
  assert.equal(record.cancelRequested, undefined)
  const stats = await s.queue.stats('default')
  assert.deepEqual([stats.ready, stats.inFlight, stats.delayed, stats.deadLettered], [0, 0, 0, 0])
})

test('jobs api: an idempotent repeat gets the same 202 and enqueues nothing; another body is a 409', async (t) => {
  const runs: string[] = []
  const s = await ledgerStack([sumJob(runs)])
  t.after(() => s.close())
  const key = { 'idempotency-key': 'order-42' }
  const first = await post(s.app, { type: 'test.sum', payload: { n: 3 } }, tokens.alice, key)
  assert.equal(first.statusCode, 202)
  await s.outcomes.waitFor(first.json().id, 'success')
  const repeat = await post(s.app, { type: 'test.sum', payload: { n: 3 } }, tokens.alice, key)
  assert.equal(repeat.statusCode, 202)
  assert.deepEqual(repeat.json(), first.json())
  assert.equal(repeat.headers.location, first.headers.location)
  const conflict = await post(s.app, { type: 'test.sum', payload: { n: 4 } }, tokens.alice, key)
  assert.equal(conflict.statusCode, 409)
  assert.match(conflict.json().message, /different request body/)
  // Keys are per user: Bob's "order-42" is his own.
  const bobs = await post(s.app, { type: 'test.sum', payload: { n: 4 } }, tokens.bob, key)
  assert.equal(bobs.statusCode, 202)
  assert.notEqual(bobs.json().id, first.json().id)
  await s.outcomes.waitFor(bobs.json().id, 'success')
  assert.deepEqual(runs.sort(), [first.json().id, bobs.json().id].sort())
  assert.equal(s.metrics.series('default', 'test.sum').enqueued, 2)
  const tooLong = await post(s.app, { type: 'test.sum', payload: { n: 1 } }, tokens.alice, {
    'idempotency-key': 'k'.repeat(201),
  })
  assert.equal(tooLong.statusCode, 400)
  assert.match(tooLong.json().message, /idempotency-key/)
})

test("jobs api: another user's job is a 404 like an unknown id; an admin sees it", async (t) => {
  const s = await ledgerStack([sumJob()])
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.sum', payload: { n: 2 } })).json()
  await s.outcomes.waitFor(id, 'success')
  const bob = await get(s.app, `/v1/jobs/${id}`, tokens.bob)
  const unknown = await get(s.app, '/v1/jobs/0190a000-0000-7000-8000-000000000000', tokens.bob)
  assert.equal(bob.statusCode, 404)
  assert.equal(unknown.statusCode, 404)
  assert.equal(bob.json().message.replace(id, 'X'), unknown.json().message.replace(/[0-9a-f-]{36}/, 'X'))
  assert.equal((await cancel(s.app, id, tokens.bob)).statusCode, 404)
  const admin = await get(s.app, `/v1/jobs/${id}`, tokens.admin)
  assert.equal(admin.statusCode, 200)
  assert.equal(admin.json().owner, 'alice')
})

test('jobs api: GET /v1/jobs lists only your jobs, newest first, page by page', async (t) => {
  const s = await ledgerStack([sumJob()])
  t.after(() => s.close())
  const ids: string[] = []
  for (let n = 0; n < 5; n++) ids.push((await post(s.app, { type: 'test.sum', payload: { n } })).json().id)
  await post(s.app, { type: 'test.sum', payload: { n: 9 } }, tokens.bob)
  const seen: string[] = []
  let url = '/v1/jobs?limit=2'
  for (let page = 0; page < 5; page++) {
    const res = await get(s.app, url)
    assert.equal(res.statusCode, 200)
    const body = res.json() as { items: { id: string; owner: string }[]; nextCursor?: string }
    assert.ok(body.items.length <= 2)
    seen.push(...body.items.map((i) => i.id))
    if (!body.nextCursor) break
    url = `/v1/jobs?limit=2&cursor=${encodeURIComponent(body.nextCursor)}`
  }
  assert.deepEqual(seen, [...ids].reverse())
  const filtered = await get(s.app, '/v1/jobs?status=failed')
  assert.deepEqual(filtered.json().items, [])
  assert.equal((await get(s.app, '/v1/jobs?status=bogus')).statusCode, 400)
})

test('jobs api: progress reported by a running handler is visible on its record', async (t) => {
  const progressed = deferred()
  const gate = deferred()
  const steps = defineJob({
    type: 'test.steps',
    schema: Type.Object({}),
    publishable: true,
    handle: async (_p, ctx) => {
      await ctx.progress(40, 'parsing')
      progressed.resolve()
      await gate.promise
      return { rows: 3 }
    },
  })
  const s = await ledgerStack([steps])
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.steps', payload: {} })).json()
  await progressed.promise
  const running = (await get(s.app, `/v1/jobs/${id}`)).json()
  assert.equal(running.status, 'running')
  assert.deepEqual(running.progress, { percent: 40, message: 'parsing' })
  gate.resolve()
  await s.outcomes.waitFor(id, 'success')
  assert.deepEqual((await get(s.app, `/v1/jobs/${id}`)).json().result, { rows: 3 })
})

test('jobs api: a job type with track: false leaves no record', async (t) => {
  let ran = 0
  const quiet = defineJob({
    type: 'test.quiet',
    schema: Type.Object({}),
    publishable: true,
    track: false,
    handle: () => {
      ran++
    },
  })
  const s = await ledgerStack([quiet])
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.quiet', payload: {} })).json()
  await s.outcomes.waitFor(id, 'success')
  assert.equal(ran, 1)
  assert.equal(await s.store.get(id), undefined)
  assert.equal((await get(s.app, `/v1/jobs/${id}`, tokens.admin)).statusCode, 404)
  assert.equal(s.store.requests.writes, 0)
})

test('jobs api: a result over the cap still succeeds, and the record says the result was too large', async (t) => {
  const big = defineJob({
    type: 'test.big',
    schema: Type.Object({}),
    publishable: true,
    handle: () => ({ text: 'x'.repeat(2000) }),
  })
  const s = await ledgerStack([big], { resultMaxBytes: 1000 })
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.big', payload: {} })).json()
  await s.outcomes.waitFor(id, 'success')
  const record = (await get(s.app, `/v1/jobs/${id}`)).json()
  assert.equal(record.status, 'succeeded')
  assert.equal(record.result, undefined)
  assert.equal(record.error.code, 'RESULT_TOO_LARGE')
  assert.match(record.error.message, /2\d\d\d bytes.*at most 1000.*not kept/)
})

test('jobs api: with the job store down a job still runs; idempotent enqueue, GET and cancel answer 503', async (t) => {
  const runs: string[] = []
  const s = await ledgerStack([sumJob(runs)])
  t.after(() => s.close())
  await s.store.close() // every call now rejects with StoreUnavailableError
  const res = await post(s.app, { type: 'test.sum', payload: { n: 5 } })
  assert.equal(res.statusCode, 202)
  const { id } = res.json()
  await s.outcomes.waitFor(id, 'success')
  assert.deepEqual(runs, [id])
  const keyed = await post(s.app, { type: 'test.sum', payload: { n: 5 } }, tokens.alice, {
    'idempotency-key': 'while-down',
  })
  assert.equal(keyed.statusCode, 503)
  assert.ok(keyed.headers['retry-after'])
  assert.match(keyed.json().message, /job store is unavailable/)
  const cancelled = await cancel(s.app, id)
  assert.equal(cancelled.statusCode, 503)
  assert.ok(cancelled.headers['retry-after'])
  assert.equal((await get(s.app, `/v1/jobs/${id}`)).statusCode, 503)
  assert.equal((await s.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503)
  const metrics = await s.app.inject({ method: 'GET', url: '/metrics' })
  assert.match(metrics.body, /conveyor_job_store_errors_total\{op="create"\} 1/)
  assert.match(metrics.body, /conveyor_job_store_errors_total\{op="transition"\} 2/)
})

test('jobs api: admins list every owner, count by status, and retry a failed job', async (t) => {
  let failing = true
  const fragile = defineJob({
    type: 'test.fragile',
    schema: Type.Object({}),
    publishable: true,
    maxAttempts: 1,
    handle: () => {
      if (failing) throw new Error('down')
      return 'fixed'
    },
  })
  const s = await ledgerStack([fragile])
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.fragile', payload: {} })).json()
  await post(s.app, { type: 'test.fragile', payload: {} }, tokens.bob)
  await s.outcomes.waitUntil((e) => e.outcome === 'dead_letter' && e.id !== id)
  await s.outcomes.waitFor(id, 'dead_letter')
  assert.equal((await get(s.app, '/v1/admin/jobs', tokens.alice)).statusCode, 403)
  const all = (await get(s.app, '/v1/admin/jobs?status=failed', tokens.admin)).json()
  assert.deepEqual(all.items.map((i: { owner: string }) => i.owner).sort(), ['alice', 'bob'])
  const counts = (await get(s.app, '/v1/admin/jobs/counts', tokens.admin)).json()
  assert.deepEqual(counts, { queues: { default: { failed: 2 } } })
  failing = false
  const outcomesBefore = s.outcomes.of(id).length
  const retried = await s.app.inject({
    method: 'POST',
    url: `/v1/admin/jobs/${id}/retry`,
    headers: { authorization: tokens.admin },
  })
  assert.equal(retried.statusCode, 202)
  await s.outcomes.waitUntil((e) => e.id === id && e.outcome === 'success')
  assert.equal(s.outcomes.of(id).length, outcomesBefore + 1)
  const record = (await get(s.app, `/v1/jobs/${id}`)).json()
  assert.equal(record.status, 'succeeded')
  assert.equal(record.result, 'fixed')
  const again = await s.app.inject({
    method: 'POST',
    url: `/v1/admin/jobs/${id}/retry`,
    headers: { authorization: tokens.admin },
  })
  assert.equal(again.statusCode, 409)
})

test('jobs api: OpenAPI describes every job route', async (t) => {
  const s = await ledgerStack([sumJob()])
  t.after(() => s.close())
  const doc = (await s.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, unknown>>
  }
  for (const [path, method] of [
    ['/v1/jobs', 'post'],
    ['/v1/jobs', 'get'],
    ['/v1/jobs/{id}', 'get'],
    ['/v1/jobs/{id}/cancel', 'post'],
    ['/v1/admin/jobs', 'get'],
    ['/v1/admin/jobs/counts', 'get'],
    ['/v1/admin/jobs/{id}/retry', 'post'],
  ] as const) {
    assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is in the OpenAPI document`)
  }
})
