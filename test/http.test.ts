import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { SqsQueue } from '../adapters/sqs/index.ts'
import { defineJob } from '../src/job.ts'
import { Metrics } from '../src/metrics.ts'
import { Producer } from '../src/producer.ts'
import type { Queue } from '../src/queue.ts'
import { JobRegistry } from '../src/registry.ts'
import { buildApp } from '../src/service/http/app.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { eventually, testLogger } from './support/async.ts'
import { startFauxqs, startOutageProxy, useLocalAwsEnvironment } from './support/emulators.ts'

const SECRET = 'test-secret-that-is-long-enough-for-hs256'
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 60_000 })
const alice = `Bearer ${sign({ sub: 'alice' })}`

const greet = defineJob({
  type: 'test.greet',
  schema: Type.Object({ name: Type.String({ minLength: 1 }) }),
  publishable: true,
  handle: () => {},
})
const internal = defineJob({ type: 'test.internal', schema: Type.Object({}), handle: () => {} })

async function appWith(
  queue: Queue,
  { worker, ...options }: { rateLimitPerMinute?: number; worker?: Worker } = {},
) {
  const registry = new JobRegistry([greet, internal])
  const metrics = new Metrics()
  const app = await buildApp({
    services: {
      queue,
      registry,
      metrics,
      producer: new Producer({ queue, registry, metrics }),
      readinessQueue: 'default',
      ...(worker ? { worker } : {}),
    },
    jwtSecret: SECRET,
    logger: testLogger,
    bodyLimit: 16 * 1024,
    ...options,
  })
  return { app, registry, metrics }
}

/** POST /v1/jobs with a test.greet payload. */
function postGreet(app: FastifyInstance, authorization = alice, name = 'A') {
  return app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { authorization },
    payload: { type: 'test.greet', payload: { name } },
  })
}

test('http: POST /v1/jobs enqueues a publishable job and the worker runs it', async (t) => {
  const queue = new MemoryQueue()
  const { app, registry, metrics } = await appWith(queue)
  const worker = new Worker({ queue, jobs: registry, logger: testLogger, metrics }).start()
  const outcomes = new JobOutcomes(worker)
  t.after(async () => {
    await worker.stop()
    await app.close()
    await queue.close()
  })
  const res = await postGreet(app, alice, 'Ada')
  assert.equal(res.statusCode, 202)
  const body = res.json() as { id: string; type: string }
  assert.equal(body.type, 'test.greet')
  assert.match(body.id, /^[0-9a-f-]{36}$/)
  await outcomes.waitFor(body.id, 'success')
  const metricsText = await app.inject({ method: 'GET', url: '/metrics' })
  assert.equal(metricsText.statusCode, 200)
  assert.match(metricsText.body, /conveyor_jobs_enqueued_total\{queue="default",type="test.greet"\} 1/)
})

test('http: bad requests get a 4xx that says what is wrong, and nothing is enqueued', async (t) => {
  const queue = new MemoryQueue()
  const { app } = await appWith(queue)
  t.after(async () => {
    await app.close()
    await queue.close()
  })
  const post = (payload: unknown, headers: Record<string, string> = { authorization: alice }) =>
    app.inject({ method: 'POST', url: '/v1/jobs', headers, payload: payload as string })
  const cases: [string, Awaited<ReturnType<typeof post>>, number, RegExp][] = [
    [
      'no token',
      await post({ type: 'test.greet', payload: { name: 'A' } }, {}),
      401,
      /missing Authorization/,
    ],
    [
      'wrong signature',
      await post(
        { type: 'test.greet', payload: { name: 'A' } },
        {
          authorization: `Bearer ${createSigner({ key: 'other-secret-other-secret-other!!', algorithm: 'HS256' })({ sub: 'alice' })}`,
        },
      ),
      401,
      /invalid token/,
    ],
    [
      'expired token',
      await post(
        { type: 'test.greet', payload: { name: 'A' } },
        {
          authorization: `Bearer ${createSigner({ key: SECRET, algorithm: 'HS256' })({ sub: 'alice', exp: 1 })}`,
        },
      ),
      401,
      /expired/i,
    ],
    ['unknown type', await post({ type: 'test.nope', payload: {} }), 400, /unknown job type "test.nope"/],
    [
      'not publishable',
      await post({ type: 'test.internal', payload: {} }),
      403,
      /cannot be enqueued over HTTP/,
    ],
    [
      'invalid payload',
      await post({ type: 'test.greet', payload: { name: '' } }),
      400,
      /invalid payload: name must NOT have fewer than 1 characters|name .*1 characters/,
    ],
    [
      'unknown field',
      await post({ type: 'test.greet', payload: { name: 'A' }, extra: 1 }),
      400,
      /additional properties/,
    ],
    [
      'negative delay',
      await post({ type: 'test.greet', payload: { name: 'A' }, delayMs: -5 }),
      400,
      /delayMs/,
    ],
    [
      'bad JSON',
      await app.inject({
        method: 'POST',
        url: '/v1/jobs',
        headers: { authorization: alice, 'content-type': 'application/json' },
        payload: '{"type":',
      }),
      400,
      /not valid JSON/,
    ],
    [
      'wrong content type',
      await app.inject({
        method: 'POST',
        url: '/v1/jobs',
        headers: { authorization: alice, 'content-type': 'text/plain' },
        payload: 'hello',
      }),
      415,
      /content-type/i,
    ],
    [
      'huge body',
      await post({ type: 'test.greet', payload: { name: 'x'.repeat(20_000) } }),
      413,
      /too large/i,
    ],
  ]
  for (const [what, res, status, message] of cases) {
    assert.equal(res.statusCode, status, `${what}: ${res.body}`)
    const body = res.json() as { statusCode: number; error: string; message: string }
    assert.equal(body.statusCode, status, what)
    assert.match(body.message, message, what)
    assert.doesNotMatch(res.body, /at .*\.ts:\d+/, `${what}: no stack traces`)
  }
  assert.equal((await queue.stats('default')).ready, 0)
})

test('http: an unreachable queue is a 503, and readyz says so', async (t) => {
  useLocalAwsEnvironment()
  const queue = new SqsQueue({ endpoint: 'http://127.0.0.1:9', autoCreate: true }, { logger: testLogger })
  const { app } = await appWith(queue)
  t.after(async () => {
    await app.close()
    await queue.close()
  })
  const res = await postGreet(app)
  assert.equal(res.statusCode, 503)
  assert.match((res.json() as { message: string }).message, /the queue is unavailable/)
  assert.equal(res.headers['retry-after'], '5')
  assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503)
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
})

test('http: a stalled queue (connections accepted, nothing answered) is a 503 with Retry-After within seconds, and readyz says so', async (t) => {
  const fauxqs = await startFauxqs()
  const proxy = await startOutageProxy(fauxqs.port)
  const queue = new SqsQueue(
    { endpoint: proxy.endpoint, autoCreate: true, requestTimeoutMs: 1_000 },
    { logger: testLogger },
  )
  const { app } = await appWith(queue)
  t.after(async () => {
    await proxy.restore()
    await app.close()
    await queue.close()
    await proxy.stop()
    await fauxqs.stop()
  })
  assert.equal((await postGreet(app)).statusCode, 202)
  await proxy.stall()
  const startedAt = Date.now()
  const res = await postGreet(app)
  const tookMs = Date.now() - startedAt
  assert.equal(res.statusCode, 503)
  assert.equal(res.headers['retry-after'], '5')
  assert.match((res.json() as { message: string }).message, /the queue is unavailable/)
  assert.ok(tookMs < 3_000, `answered after ${tookMs} ms; the request deadline is 1000 ms`)
  assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503)
})

test('http: readyz reports a worker that is not consuming', async (t) => {
  useLocalAwsEnvironment()
  const api = new MemoryQueue()
  const unreachable = new SqsQueue(
    { endpoint: 'http://127.0.0.1:9', autoCreate: true, requestTimeoutMs: 500 },
    { logger: testLogger },
  )
  const worker = new Worker({ queue: unreachable, jobs: [greet], logger: testLogger }).start()
  const { app } = await appWith(api, { worker })
  t.after(async () => {
    await app.close()
    await worker.stop()
    await unreachable.close()
    await api.close()
  })
  const res = await eventually(async () => {
    const r = await app.inject({ method: 'GET', url: '/readyz' })
    return r.statusCode === 503 && r
  }, 'readyz to report the worker')
  assert.match((res.json() as { message: string }).message, /worker not consuming: default/)
  const healthy = new Worker({ queue: api, jobs: [greet], logger: testLogger }).start()
  t.after(() => healthy.stop())
  const { app: ok } = await appWith(api, { worker: healthy })
  t.after(() => ok.close())
  assert.equal((await ok.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
})

test('http: requests are rate limited per user (429 with Retry-After); others are not affected', async (t) => {
  const queue = new MemoryQueue()
  const { app } = await appWith(queue, { rateLimitPerMinute: 3 })
  t.after(async () => {
    await app.close()
    await queue.close()
  })
  const bob = `Bearer ${sign({ sub: 'bob' })}`
  const post = (authorization: string) => postGreet(app, authorization)
  for (let i = 0; i < 3; i++) assert.equal((await post(alice)).statusCode, 202)
  const limited = await post(alice)
  assert.equal(limited.statusCode, 429)
  assert.match((limited.json() as { message: string }).message, /rate limit of 3 requests per minute/)
  assert.ok(Number(limited.headers['retry-after']) > 0)
  assert.equal((await post(bob)).statusCode, 202, 'another user has their own allowance')
  assert.equal((await queue.stats('default')).ready, 4)
})

test('http: the OpenAPI document is generated from the route schemas', async (t) => {
  const queue = new MemoryQueue()
  const { app } = await appWith(queue)
  t.after(async () => {
    await app.close()
    await queue.close()
  })
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  assert.equal(res.statusCode, 200)
  const doc = res.json() as {
    openapi: string
    paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>
  }
  assert.match(doc.openapi, /^3\./)
  const post = doc.paths['/v1/jobs']?.post
  assert.ok(post?.requestBody, 'POST /v1/jobs documents its body')
  assert.deepEqual(Object.keys(post.responses).sort(), ['202', '400', '401', '403', '409', '429', '503'])
})
