import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import Type from 'typebox'
import { DynamoJobStore, ensureJobTable } from '../adapters/dynamodb/index.ts'
import { SqsQueue } from '../adapters/sqs/index.ts'
import { JobCancelledError } from '../src/errors.ts'
import { defineJob } from '../src/job.ts'
import { deferred, testLogger } from './support/async.ts'
import { type RunningEmulator, startFauxqs, useLocalAwsEnvironment } from './support/emulators.ts'
import { cancel, get, ledgerStack, post } from './support/ledger.ts'
import { type Dynalite, startDynalite } from './support/stores.ts'

const TABLE = 'conveyor-jobs-ledger-test'
let fauxqs: RunningEmulator
let dynalite: Dynalite

before(async () => {
  useLocalAwsEnvironment()
  fauxqs = await startFauxqs()
  dynalite = await startDynalite()
  const client = new DynamoDBClient({ endpoint: dynalite.endpoint })
  await ensureJobTable(client, TABLE)
  client.destroy()
})

after(async () => {
  await fauxqs?.stop()
  await dynalite?.stop()
})

function awsStack(jobs: Parameters<typeof ledgerStack>[0], prefix: string) {
  const queue = new SqsQueue(
    { endpoint: fauxqs.endpoint, autoCreate: true, queuePrefix: prefix, waitTimeSeconds: 1 },
    { logger: testLogger },
  )
  const store = new DynamoJobStore({ table: TABLE, endpoint: dynalite.endpoint })
  return ledgerStack(jobs, { queue, store })
}

test('ledger on SQS and DynamoDB: a job enqueued over HTTP is followed to succeeded with its result', async (t) => {
  const sum = defineJob({
    type: 'test.sum',
    schema: Type.Object({ n: Type.Integer() }),
    publishable: true,
    handle: ({ n }) => ({ total: n * 2 }),
  })
  const s = await awsStack([sum], 'ledger-ok-')
  t.after(() => s.close())
  const { id, statusUrl } = (await post(s.app, { type: 'test.sum', payload: { n: 21 } })).json()
  await s.outcomes.waitFor(id, 'success')
  const record = (await get(s.app, statusUrl)).json()
  assert.equal(record.status, 'succeeded')
  assert.deepEqual(record.result, { total: 42 })
  assert.equal(record.owner, 'alice')
  const mine = (await get(s.app, '/v1/jobs?status=succeeded')).json()
  assert.deepEqual(
    mine.items.map((i: { id: string }) => i.id),
    [id],
  )
})

test('ledger on SQS and DynamoDB: a running job cancelled over HTTP has its signal fired and ends cancelled', async (t) => {
  const started = deferred()
  let reason: unknown
  const slow = defineJob({
    type: 'test.slow',
    schema: Type.Object({}),
    publishable: true,
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
  const s = await awsStack([slow], 'ledger-cancel-')
  t.after(() => s.close())
  const { id } = (await post(s.app, { type: 'test.slow', payload: {} })).json()
  await started.promise
  assert.equal((await cancel(s.app, id)).json().cancelRequested, true)
  await s.outcomes.waitFor(id, 'cancelled')
  assert.ok(reason instanceof JobCancelledError)
  assert.equal((await get(s.app, `/v1/jobs/${id}`)).json().status, 'cancelled')
  assert.deepEqual(s.outcomes.of(id), ['cancelled'])
})

const run = promisify(execFile)
const CLI = fileURLToPath(new URL('../src/service/cli.ts', import.meta.url))

test('cli: jobs list, show and cancel read and change the DynamoDB job store', async () => {
  const store = new DynamoJobStore({ table: TABLE, endpoint: dynalite.endpoint })
  const now = Date.now()
  await store.create({
    id: 'cli-job-1',
    type: 'demo.greet',
    queue: 'default',
    owner: 'ada',
    maxAttempts: 3,
    createdAt: now,
  })
  await store.create({
    id: 'cli-job-2',
    type: 'demo.greet',
    queue: 'default',
    owner: 'ada',
    maxAttempts: 3,
    createdAt: now + 1,
  })
  await store.close()
  const env = {
    PATH: process.env.PATH ?? '',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    QUEUE_DRIVER: 'sqs',
    AWS_ENDPOINT_URL_SQS: fauxqs.endpoint,
    JOB_STORE: 'dynamodb',
    JOB_STORE_TABLE: TABLE,
    DYNAMODB_ENDPOINT: dynalite.endpoint,
  }
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], { env })
  const list = JSON.parse((await cli('jobs', 'list', '--owner', 'ada', '--json')).stdout)
  assert.deepEqual(
    list.items.map((i: { id: string }) => i.id),
    ['cli-job-2', 'cli-job-1'],
  )
  const cancelled = JSON.parse((await cli('jobs', 'cancel', 'cli-job-1', '--json')).stdout)
  assert.deepEqual(cancelled, { id: 'cli-job-1', outcome: 'cancelled' })
  const shown = JSON.parse((await cli('jobs', 'show', 'cli-job-1', '--json')).stdout)
  assert.equal(shown.status, 'cancelled')
  await assert.rejects(cli('jobs', 'cancel', 'cli-job-1'), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 1)
    assert.match(err.stderr, /already finished/)
    return true
  })
  await assert.rejects(cli('jobs', 'show', 'no-such-job'), /no job no-such-job/)
  await assert.rejects(cli('jobs', 'list', '--status', 'bogus'), /--status must be one of/)
})
