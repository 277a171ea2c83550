import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import { createSigner } from 'fast-jwt'
import type { InjectOptions } from 'fastify'
import { SECRET, TestStack } from './support/stack.ts'

let stack: TestStack
before(async () => {
  // The whole API as `npm start` wires it, on the memory queue; no worker, so nothing runs meanwhile.
  stack = await TestStack.start({ worker: false, handlers: { maxActiveExportsPerUser: 1_000_000 } })
})
after(() => stack.close())

const signWith = (key: string) => createSigner({ key, algorithm: 'HS256' })
const good = signWith(SECRET)
const wrong = signWith('another-secret-that-is-long-enough-for-hs256')

const claimValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.constant('admin'),
)
const claims = fc.record(
  {
    sub: fc.oneof(fc.constantFrom('alice', 'bob', ''), claimValue),
    email: fc.oneof(fc.emailAddress(), claimValue),
    role: fc.oneof(fc.constant('admin'), claimValue),
    exp: fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.constant(Math.floor(Date.now() / 1000) + 600)),
  },
  { requiredKeys: [] },
)

const admin = `Bearer ${good({ sub: 'alice', email: 'alice@example.com', role: 'admin' })}`
const authorization = fc.oneof(
  { arbitrary: fc.constant(admin), weight: 4 },
  fc.constant(undefined),
  claims.map((c) => `Bearer ${good(c)}`),
  claims.map((c) => `Bearer ${wrong(c)}`),
  fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`),
  fc.string({ maxLength: 60 }),
)

const segment = fc.oneof(
  fc.constantFrom(
    'v1',
    'jobs',
    'exports',
    'admin',
    'queues',
    'default',
    'emails',
    'dead-letters',
    'redrive',
    'download',
    'links',
    'activities',
    'export.csv',
    'dev',
    'outbox',
    '..',
    '%00',
    '%E0%A4%A',
    '018f0000-0000-7000-8000-000000000000',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 8 }).map(encodeURIComponent),
)
const knownPath = fc.constantFrom(
  '/v1/jobs',
  '/v1/exports',
  '/v1/exports?limit=5',
  '/v1/exports?limit=-1&cursor=zz',
  '/v1/exports?kind=csv',
  '/v1/activities/export.csv',
  '/v1/admin/queues',
  '/v1/admin/queues/default/dead-letters',
  '/v1/admin/queues/default/dead-letters?limit=0',
  '/v1/admin/queues/emails/redrive',
  '/links/exports/abc',
  '/dev/outbox',
  '/dev/outbox/..%2F..%2Fetc%2Fpasswd',
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/dashboard',
)
const path = fc.oneof(
  knownPath,
  fc.tuple(knownPath, segment).map(([p, s]) => `${p.split('?')[0]}/${s}`),
  fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`),
  fc
    .tuple(knownPath, fc.string({ maxLength: 20 }))
    .map(([p, q]) => `${p}?${encodeURIComponent(q)}=${encodeURIComponent(q)}`),
)

const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    {
      type: fc.constant('demo.greet'),
      payload: fc.record(
        { name: fc.string({ maxLength: 120 }), workMs: fc.integer({ min: -1, max: 70_000 }) },
        { requiredKeys: ['name'] },
      ),
      delayMs: fc.integer({ min: -1, max: 3_000_000_000 }),
    },
    { requiredKeys: ['type', 'payload'] },
  ),
  fc.record(
    {
      type: fc.oneof(
        fc.constantFrom('demo.greet', 'email.welcome', 'export.csv', 'nope'),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      payload: fc.jsonValue({ maxDepth: 3 }),
      delayMs: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 5 }), fc.constant(undefined)),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      kind: fc.oneof(fc.constantFrom('csv', 'pdf', 'activities'), fc.jsonValue({ maxDepth: 1 })),
      filters: fc.jsonValue({ maxDepth: 2 }),
      format: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    { ids: fc.jsonValue({ maxDepth: 2 }), limit: fc.jsonValue({ maxDepth: 1 }) },
    { requiredKeys: [] },
  ),
)
const body = fc.oneof(
  jsonBody.map((v) => ({ payload: JSON.stringify(v) ?? 'null', contentType: 'application/json' })),
  fc.string({ maxLength: 100 }).map((s) => ({ payload: s, contentType: 'application/json' })),
  fc
    .tuple(
      fc.string({ maxLength: 50 }),
      fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
        'application/json; charset=utf-16',
        'application/jsonx',
        '',
        'application/json; charset=utf-8',
      ),
    )
    .map(([payload, contentType]) => ({ payload, contentType })),
  fc.constant(undefined),
)

// The routes that exist, with their own methods: most requests should get past routing and auth.
const route = fc.constantFrom(
  ['POST', '/v1/jobs'],
  ['POST', '/v1/exports'],
  ['GET', '/v1/exports'],
  ['GET', '/v1/exports/018f0000-0000-7000-8000-000000000000'],
  ['GET', '/v1/exports/018f0000-0000-7000-8000-000000000000/download'],
  ['DELETE', '/v1/exports/not-an-id'],
  ['GET', '/v1/activities/export.csv'],
  ['GET', '/v1/admin/queues'],
  ['GET', '/v1/admin/queues/default/dead-letters'],
  ['POST', '/v1/admin/queues/default/redrive'],
  ['POST', '/v1/admin/queues/no-such-queue/redrive'],
  ['GET', '/links/exports/abc.def'],
  ['GET', '/readyz'],
)
const methodAndUrl = fc.oneof(
  {
    arbitrary: fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), path),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(
        route,
        fc.oneof(
          fc.constant(''),
          fc
            .string({ maxLength: 20 })
            .map((q) => `?limit=${encodeURIComponent(q)}&cursor=${encodeURIComponent(q)}`),
        ),
      )
      .map(([[method, url], query]) => [method, `${url}${query}`] as [string, string]),
    weight: 2,
  },
)

const request = fc.record({
  methodAndUrl,
  authorization,
  body,
  extraHeaders: fc.dictionary(
    fc.constantFrom(
      'accept',
      'accept-encoding',
      'x-forwarded-for',
      'traceparent',
      'x-request-id',
      'content-length',
      'if-none-match',
      'range',
    ),
    fc.string({ maxLength: 30 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s)),
    { maxKeys: 3 },
  ),
})

test('http API: thousands of random requests (methods, paths, bodies, headers, tokens) get no 5xx, and every error is the JSON error shape', async () => {
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const headers: Record<string, string> = { ...r.extraHeaders }
      // inject computes content-length itself; a random one only tests light-my-request.
      delete headers['content-length']
      if (r.authorization !== undefined) headers.authorization = r.authorization
      const [method, url] = r.methodAndUrl
      const options: InjectOptions = { method: method as InjectOptions['method'], url, headers }
      if (r.body && method !== 'GET' && method !== 'HEAD') {
        options.payload = r.body.payload
        if (r.body.contentType) headers['content-type'] = r.body.contentType
      }
      const res = await stack.app.inject(options)
      const what = `${method} ${url} → ${res.statusCode} ${res.body.slice(0, 300)}`
      assert.ok(res.statusCode < 500, what)
      if (res.statusCode >= 400 && method !== 'HEAD') {
        assert.match(String(res.headers['content-type']), /^application\/json/, what)
        const parsed = JSON.parse(res.body) as { statusCode: unknown; error: unknown; message: unknown }
        assert.equal(parsed.statusCode, res.statusCode, what)
        assert.equal(typeof parsed.error, 'string', what)
        assert.equal(typeof parsed.message, 'string', what)
        assert.ok((parsed.message as string).length > 0, what)
      }
    }),
    { numRuns: Number(process.env.HTTP_PROPERTY_RUNS ?? 3_000) },
  )
})
