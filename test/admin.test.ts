import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createSigner } from 'fast-jwt'
import { JobOutcomes } from '../src/testing.ts'
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
        [fileURLToPath(new URL('../src/cli.ts', import.meta.url)), ...args],
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
