import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { newId } from '../src/ids.ts'
import { AwsTestBackend } from './support/aws.ts'
import { freePort } from './support/ports.ts'

const CLI = fileURLToPath(new URL('../src/service/cli.ts', import.meta.url))

async function cli(env: Record<string, string>, ...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
        ...env,
      },
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

test('cli: an unreachable queue is one line of error and exit 1, not a stack trace', async () => {
  const closed = await freePort()
  const res = await cli(
    { QUEUE_DRIVER: 'sqs', AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${closed}`, SQS_AUTO_CREATE: 'false' },
    'queues',
  )
  assert.equal(res.code, 1)
  const lines = res.stderr.trim().split('\n')
  assert.equal(lines.length, 1, res.stderr)
  assert.match(lines[0]!, /^conveyor: .*ECONNREFUSED/)
})

test('cli: bad options and unknown queues say what is wrong and exit 2', async () => {
  const env = { QUEUE_DRIVER: 'sqs', AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9' }
  const option = await cli(env, 'queues', '--frobnicate')
  assert.equal(option.code, 2)
  assert.match(option.stderr, /^conveyor: Unknown option '--frobnicate'/)
  const queue = await cli(env, 'dead-letters', 'nope')
  assert.equal(queue.code, 2)
  assert.match(queue.stderr, /^conveyor: no queue "nope": use one of default, exports, emails/)
  const token = await cli({}, 'token', '--email', 'a@example.com')
  assert.equal(token.code, 2)
  assert.match(token.stderr, /^conveyor: token needs --sub <user>/)
})

test('cli: redrive of an id that is not a dead letter says so and exits 1 (SQS, fauxqs)', async (t) => {
  const aws = new AwsTestBackend()
  await aws.start()
  t.after(() => aws.stop())
  const env = {
    QUEUE_DRIVER: 'sqs',
    AWS_ENDPOINT_URL_SQS: aws.endpoint!,
    SQS_QUEUE_PREFIX: `${aws.runId}-redrive-`,
    SQS_AUTO_CREATE: 'true',
    SQS_WAIT_TIME_SECONDS: '1',
  }
  const unknown = newId()
  const res = await cli(env, 'redrive', 'emails', unknown)
  assert.equal(res.code, 1)
  assert.equal(res.stdout.trim(), 'moved 0 dead letters back to emails')
  assert.match(
    res.stderr,
    /^conveyor: 1 of the 1 id given is not a dead letter in emails \(unknown, or already redriven\)/,
  )
  const all = await cli(env, 'redrive', 'emails')
  assert.equal(all.code, 0, 'redriving all of an empty dead-letter queue is not an error')
})
