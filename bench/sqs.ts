// 20,000 messages sent and processed through Conveyor's SQS adapter and worker, and in the same run by
// the sqs-consumer package (batchSize 10) as the anchor, both against one fauxqs in its own process.
// Each side: consumers start, then 20,000 messages are sent (Conveyor: its Producer; anchor: SDK
// SendMessageBatch, 10 entries, 8 requests at a time), timed until every message has been handled.
// Handlers are no-ops. requestsPerMessage counts every SQS request Conveyor's client made, sends included.
// Last line: { "bench": "sqs", "conveyorMsgsPerSec", "anchorMsgsPerSec", "ratio", "requestsPerMessage" }
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { CreateQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs'
import { Consumer } from 'sqs-consumer'
import { SqsQueue } from '../adapters/sqs/index.ts'
import { createLogger } from '../src/logger.ts'
import { BENCH_PAYLOAD, timeNoopJobs } from './support/noop-jobs.ts'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000)
const CONCURRENCY = 64
Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
})

async function startEmulator(): Promise<{ child: ChildProcess; endpoint: string }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./support/fauxqs-process.ts', import.meta.url))],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', resolve),
  )
  return { child, endpoint: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` }
}

function countingClient(endpoint: string): { client: SQSClient; requests: () => number } {
  let requests = 0
  const client = new SQSClient({ endpoint })
  client.middlewareStack.add(
    (next) => async (args) => {
      requests++
      return next(args)
    },
    { step: 'finalizeRequest' },
  )
  return { client, requests: () => requests }
}

async function conveyor(endpoint: string): Promise<{ rate: number; requestsPerMessage: number }> {
  const { client, requests } = countingClient(endpoint)
  const queue = new SqsQueue(
    { endpoint, autoCreate: true, queuePrefix: 'conveyor-' },
    { client, logger: createLogger({ level: 'warn' }) },
  )
  await queue.ensureQueue('bench')
  const before = requests()
  const seconds = await timeNoopJobs(queue, {
    messages: MESSAGES,
    concurrency: CONCURRENCY,
    logger: createLogger({ level: 'warn' }),
    batch: 100,
    parallel: 8,
  })
  const used = requests() - before
  await queue.close()
  client.destroy()
  return { rate: MESSAGES / seconds, requestsPerMessage: used / MESSAGES }
}

async function anchor(endpoint: string): Promise<number> {
  const client = new SQSClient({ endpoint })
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'anchor-bench' }))
  let done = 0
  let finished!: () => void
  const allDone = new Promise<void>((r) => {
    finished = r
  })
  const consumer = Consumer.create({
    queueUrl: QueueUrl!,
    sqs: client,
    batchSize: 10,
    waitTimeSeconds: 20,
    handleMessage: async (message) => {
      JSON.parse(message.Body ?? '{}')
      if (++done === MESSAGES) finished()
      return message
    },
  })
  const started = performance.now()
  consumer.start()
  const body = JSON.stringify({ type: 'bench.noop', payload: BENCH_PAYLOAD })
  for (let sent = 0; sent < MESSAGES; sent += 80) {
    await Promise.all(
      Array.from({ length: 8 }, (_, b) =>
        client.send(
          new SendMessageBatchCommand({
            QueueUrl,
            Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `${b}-${i}`, MessageBody: body })),
          }),
        ),
      ),
    )
  }
  await allDone
  const seconds = (performance.now() - started) / 1000
  consumer.stop()
  client.destroy()
  return MESSAGES / seconds
}

const emulator = await startEmulator()
try {
  const anchorMsgsPerSec = Math.round(await anchor(emulator.endpoint))
  console.log(`sqs-consumer (batchSize 10): ${anchorMsgsPerSec} msg/s`)
  const c = await conveyor(emulator.endpoint)
  const conveyorMsgsPerSec = Math.round(c.rate)
  console.log(
    `conveyor (concurrency ${CONCURRENCY}): ${conveyorMsgsPerSec} msg/s, ${c.requestsPerMessage.toFixed(3)} requests/message`,
  )
  console.log(
    JSON.stringify({
      bench: 'sqs',
      conveyorMsgsPerSec,
      anchorMsgsPerSec,
      ratio: Number((conveyorMsgsPerSec / anchorMsgsPerSec).toFixed(3)),
      requestsPerMessage: Number(c.requestsPerMessage.toFixed(3)),
    }),
  )
} finally {
  emulator.child.kill('SIGTERM')
}
