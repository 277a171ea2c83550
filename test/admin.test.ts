import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createSigner } from 'fast-jwt'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { NonRetryableError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { Producer } from '../src/producer.ts'
import { deadLetters } from '../src/service/admin.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Throughput } from '../src/throughput.ts'
import { Worker } from '../src/worker.ts'
import { testLogger } from './support/async.ts'
import { AwsTestBackend } from './support/aws.ts'
import { bearer, SECRET, TestStack } from './support/stack.ts'

const notAdmin = bearer('ops', null)

test('admin API and dashboard: queue depths and dead letters for admins only, redrive moves them back', async (t) => {
  const stack = await TestStack.start()
  t.after(() => stack.close())
  const adminAuth = {
    authorization: `Bearer ${createSigner({ key: SECRET, algorithm: 'HS256' })({ sub: 'ops', role: 'admin' })}`,
  }
  await (stack.queue as unknown as { sendRaw(q: string, b: string): Promise<void> }).sendRaw(
    'emails',
    '{"not":"an envelope"}',
  )
  await stack.outcomes!.waitUntil((e) => e.outcome === 'dead_letter', 'the malformed message dead-lettered')

  assert.equal(
    (
      await stack.app.inject({
        method: 'GET',
        url: '/v1/admin/queues',
        headers: { authorization: notAdmin },
      })
    ).statusCode,
    403,
  )
  const queues = (
    await stack.app.inject({ method: 'GET', url: '/v1/admin/queues', headers: adminAuth })
  ).json() as {
    driver: string
    queues: { name: string; deadLettered: number }[]
  }
  assert.equal(queues.driver, 'memory')
  assert.deepEqual(queues.queues.map((q) => q.name).sort(), ['default', 'emails', 'exports'])
  assert.equal(queues.queues.find((q) => q.name === 'emails')!.deadLettered, 1)

  const letters = (
    await stack.app.inject({ method: 'GET', url: '/v1/admin/queues/emails/dead-letters', headers: adminAuth })
  ).json() as { items: { id: string; code: string; body: string }[] }
  assert.equal(letters.items.length, 1)
  assert.equal(letters.items[0]!.code, 'malformed')
  assert.equal(letters.items[0]!.body, '{"not":"an envelope"}')
  assert.equal(
    (await stack.app.inject({ method: 'GET', url: '/v1/admin/queues/nope/dead-letters', headers: adminAuth }))
      .statusCode,
    404,
  )
  // Throughput this minute (the malformed message counts as dead-lettered) and the schedules' next runs.
  for (const url of ['/v1/admin/throughput', '/v1/admin/schedules'])
    assert.equal(
      (await stack.app.inject({ method: 'GET', url, headers: { authorization: notAdmin } })).statusCode,
      403,
    )
  const throughput = (
    await stack.app.inject({ method: 'GET', url: '/v1/admin/throughput', headers: adminAuth })
  ).json() as { scope: string; minutes: { at: string; deadLettered: number }[] }
  assert.equal(throughput.scope, 'process')
  assert.equal(throughput.minutes.length, 60)
  assert.equal(
    throughput.minutes.reduce((n, m) => n + m.deadLettered, 0),
    1,
  )
  const starts = throughput.minutes.map((m) => Date.parse(m.at))
  for (let i = 1; i < starts.length; i++) assert.equal(starts[i]! - starts[i - 1]!, 60_000)
  assert.ok(Date.now() - starts.at(-1)! < 120_000, 'the last minute is the current one')
  const schedules = (
    await stack.app.inject({ method: 'GET', url: '/v1/admin/schedules', headers: adminAuth })
  ).json() as { items: { name: string; cron: string; job: string; nextRunAt: string }[] }
  assert.deepEqual(schedules.items.map((s) => [s.name, s.cron, s.job]).sort(), [
    ['exports-cleanup', '17 * * * *', 'exports.cleanup'],
    ['weekly-summary', '0 9 * * 0', 'email.weekly-summary-fanout'],
  ])
  const cleanup = schedules.items.find((s) => s.name === 'exports-cleanup')!
  const next = new Date(cleanup.nextRunAt)
  assert.equal(next.getUTCMinutes(), 17)
  assert.ok(next.getTime() > Date.now() && next.getTime() <= Date.now() + 3_600_000)

  const moved = await stack.app.inject({
    method: 'POST',
    url: '/v1/admin/queues/emails/redrive',
    headers: adminAuth,
    payload: { ids: [letters.items[0]!.id] },
  })
  assert.deepEqual(moved.json(), { moved: 1 })

  const page = await stack.app.inject({ method: 'GET', url: '/dashboard' })
  assert.equal(page.statusCode, 200)
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'/)
  assert.match(page.body, /\/v1\/admin\/queues/)
})

test('cli: queues, enqueue, dead-letters and redrive against SQS (fauxqs)', async (t) => {
  const aws = new AwsTestBackend()
  await aws.start()
  const prefix = `${aws.runId}-cli-`
  const queue = aws.createQueue({ queuePrefix: prefix })
  const worker = new Worker({ queue, jobs: [], logger: testLogger, weights: { emails: 1 } }).start()
  const outcomes = new JobOutcomes(worker)
  t.after(async () => {
    await worker.stop()
    await queue.close()
    await aws.stop()
  })
  const cli = async (...args: string[]) => {
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [fileURLToPath(new URL('../src/service/cli.ts', import.meta.url)), ...args],
        {
          env: {
            PATH: process.env.PATH ?? '',
            QUEUE_DRIVER: 'sqs',
            AWS_ENDPOINT_URL_SQS: aws.endpoint!,
            SQS_QUEUE_PREFIX: prefix,
            SQS_AUTO_CREATE: 'true',
            SQS_WAIT_TIME_SECONDS: '1',
            AWS_ACCESS_KEY_ID: 'test',
            AWS_SECRET_ACCESS_KEY: 'test',
            AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
          },
        },
      )
      return { code: 0, stdout, stderr: '' }
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string }
      return { code: e.code, stdout: e.stdout, stderr: e.stderr }
    }
  }

  const enqueued = await cli('enqueue', 'email.welcome', '{"to":"ada@example.com","name":"Ada"}', '--json')
  assert.equal(enqueued.code, 0, enqueued.stderr)
  assert.match((JSON.parse(enqueued.stdout) as { id: string }).id, /^[0-9a-f-]{36}$/)
  const invalid = await cli('enqueue', 'email.welcome', '{"to":"nobody"}')
  assert.equal(invalid.code, 2)
  assert.match(invalid.stderr, /to must be an email address/)
  assert.match(invalid.stderr, /name/)

  // The worker here knows no job types: it dead-letters the welcome email as unknown_type.
  await outcomes.waitUntil((e) => e.outcome === 'dead_letter', 'the email dead-lettered', 20_000)
  const listed = await cli('dead-letters', 'emails', '--json')
  const letters = JSON.parse(listed.stdout) as { type: string; code: string }[]
  assert.deepEqual(
    letters.map((d) => [d.type, d.code]),
    [['email.welcome', 'unknown_type']],
  )
  const table = await cli('queues')
  assert.match(table.stdout, /^queue\s+ready\s+in flight\s+delayed\s+dead letters$/m)
  assert.match(table.stdout, /^emails\s+/m)
  // The worker dead-letters it again at once; a redrive still moves each letter only once.
  const moved = await cli('redrive', 'emails')
  assert.equal(moved.stdout.trim(), 'moved 1 dead letter back to emails')
  const usage = await cli('frobnicate')
  assert.equal(usage.code, 2)
  assert.match(usage.stderr, /unknown command "frobnicate"/)
})

test('throughput: finished attempts per minute for the last hour, oldest first, quiet and stale minutes as zeros', () => {
  const t0 = Date.UTC(2026, 0, 1, 12, 0, 30)
  const throughput = new Throughput()
  throughput.add('success', t0)
  throughput.add('success', t0 + 10_000)
  throughput.add('retry', t0)
  throughput.add('timeout', t0)
  throughput.add('dead_letter', t0)
  throughput.add('success', t0 + 5 * 60_000)
  const minutes = throughput.lastMinutes(t0 + 5 * 60_000)
  assert.equal(minutes.length, 60)
  assert.deepEqual(minutes.at(-1), {
    at: '2026-01-01T12:05:00.000Z',
    completed: 1,
    retried: 0,
    deadLettered: 0,
  })
  assert.deepEqual(minutes.at(-6), {
    at: '2026-01-01T12:00:00.000Z',
    completed: 2,
    retried: 2,
    deadLettered: 1,
  })
  assert.equal(minutes[0]!.at, '2026-01-01T11:06:00.000Z')
  assert.equal(
    minutes.reduce((n, m) => n + m.completed, 0),
    3,
  )
  // An hour on, 12:00's slot is reused for 13:00 and the old counts are gone.
  throughput.add('dead_letter', t0 + 60 * 60_000)
  const later = throughput.lastMinutes(t0 + 60 * 60_000)
  assert.deepEqual(later.at(-1), {
    at: '2026-01-01T13:00:00.000Z',
    completed: 0,
    retried: 0,
    deadLettered: 1,
  })
  assert.equal(
    later.reduce((n, m) => n + m.completed, 0),
    1,
    'only 12:05 is still within the hour',
  )
})

test('dead letters: the reason is said once, at the source and in what the dashboard and CLI show', async (t) => {
  const queue = new MemoryQueue()
  const refuse = defineJob({
    type: 'test.refuse',
    queue: 'q',
    schema: Type.Object({ to: Type.String() }),
    maxAttempts: 3,
    async handle({ to }) {
      throw new NonRetryableError(`undeliverable address ${to}`)
    },
  })
  const fail = defineJob({
    type: 'test.fail',
    queue: 'q',
    schema: Type.Object({}),
    maxAttempts: 1,
    async handle() {
      throw new Error('database went away')
    },
  })
  const worker = new Worker({ queue, jobs: [refuse, fail], logger: testLogger }).start()
  const outcomes = new JobOutcomes(worker)
  t.after(async () => {
    await worker.stop()
    await queue.close()
  })
  const producer = new Producer({ queue })
  const a = await producer.enqueue(refuse, { to: 'demo@example.invalid' })
  const b = await producer.enqueue(fail, {})
  await Promise.all([outcomes.waitFor(a.id), outcomes.waitFor(b.id)])
  const letters = await deadLetters(queue, 'q')
  const refused = letters.find((d) => d.id === a.id)!
  assert.equal(refused.code, 'non_retryable')
  assert.equal(refused.message, 'undeliverable address demo@example.invalid')
  assert.equal(refused.reason, 'undeliverable address demo@example.invalid (NonRetryableError)')
  const failed = letters.find((d) => d.id === b.id)!
  assert.equal(failed.reason, 'failed 1 of 1 attempts: database went away (Error)')
  for (const d of letters) assert.equal(d.reason.split(d.message).length, 2, `once: ${d.reason}`)
})
