// 20,000 no-op jobs on SQS (fauxqs in its own process) consumed by 1, 2 and 3 worker processes, each a
// real `node` process running Conveyor's Worker (concurrency 64). Per run: a fresh queue is filled with
// the jobs first (the Producer, batches of 10), then every worker process is told to start at once, and
// the run is timed until the workers together have handled every job. The 1-process run is the baseline
// of the curve. requestsPerMessage: every SQS request of the 3-process run (sends by the producer,
// receives, deletes and lease changes by the workers, counted by conveyor_provider_requests_total's hook)
// per message.
// Last line: { "bench": "scale", "msgsPerSec": { "1", "2", "3" }, "requestsPerMessage", "scaling": { "2", "3" } }
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import Type from 'typebox'
import { SqsQueue } from '../adapters/sqs/index.ts'
import { defineJob } from '../src/job.ts'
import { createLogger } from '../src/logger.ts'
import { Producer } from '../src/producer.ts'
import { totalProviderRequests } from '../src/provider-requests.ts'
import { BENCH_PAYLOAD } from './support/noop-jobs.ts'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000)
Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
})
const logger = createLogger({ level: 'warn' })
const job = defineJob({
  type: 'bench.noop',
  queue: 'bench',
  schema: Type.Object({ userId: Type.String(), email: Type.String(), template: Type.String() }),
  handle: () => {},
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

interface WorkerReport {
  ready?: boolean
  handled?: number
  requests?: number
  final?: boolean
}

async function run(
  endpoint: string,
  processes: number,
): Promise<{ rate: number; requestsPerMessage: number }> {
  const prefix = `scale${processes}-${Date.now().toString(36)}-`
  const queue = new SqsQueue({ endpoint, autoCreate: true, queuePrefix: prefix }, { logger })
  await queue.ensureQueue('bench')
  const sendsBefore = totalProviderRequests('sqs')
  const producer = new Producer({ queue })
  const chunk = Array.from({ length: 100 }, () => BENCH_PAYLOAD)
  for (let sent = 0; sent < MESSAGES; sent += chunk.length * 4)
    await Promise.all(Array.from({ length: 4 }, () => producer.enqueueMany(job, chunk)))
  const sends = totalProviderRequests('sqs') - sendsBefore
  const children = Array.from({ length: processes }, () =>
    fork(fileURLToPath(new URL('./support/scale-worker.ts', import.meta.url)), {
      env: { ...process.env, BENCH_ENDPOINT: endpoint, BENCH_PREFIX: prefix },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  )
  const handled = new Map<ChildProcess, number>()
  let allHandled!: () => void
  const done = new Promise<void>((resolve) => {
    allHandled = resolve
  })
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((ready) => {
          child.on('message', (m: WorkerReport) => {
            if (m.ready) ready()
            if (m.handled !== undefined) handled.set(child, m.handled)
            if ([...handled.values()].reduce((a, b) => a + b, 0) >= MESSAGES) allHandled()
          })
        }),
    ),
  )
  const started = performance.now()
  for (const child of children) child.send('go')
  await done
  const seconds = (performance.now() - started) / 1000
  const finals = await Promise.all(
    children.map(
      (child) =>
        new Promise<WorkerReport>((resolve) => {
          child.on('message', (m: WorkerReport) => m.final && resolve(m))
          child.send('stop')
        }),
    ),
  )
  await Promise.all(
    children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
  )
  await queue.close()
  const workerRequests = finals.reduce((sum, f) => sum + (f.requests ?? 0), 0)
  const total = finals.reduce((sum, f) => sum + (f.handled ?? 0), 0)
  const rate = MESSAGES / seconds
  process.stderr.write(
    `${processes} worker process(es): ${rate.toFixed(0)} msg/s (${seconds.toFixed(2)} s, ${total} handled, per process ${finals.map((f) => f.handled).join('/')}), ${sends} send + ${workerRequests} worker SQS requests\n`,
  )
  return { rate, requestsPerMessage: (sends + workerRequests) / MESSAGES }
}

const emulator = await startEmulator()
try {
  const one = await run(emulator.endpoint, 1)
  const two = await run(emulator.endpoint, 2)
  const three = await run(emulator.endpoint, 3)
  console.log(
    JSON.stringify({
      bench: 'scale',
      messages: MESSAGES,
      msgsPerSec: { 1: Math.round(one.rate), 2: Math.round(two.rate), 3: Math.round(three.rate) },
      requestsPerMessage: Number(three.requestsPerMessage.toFixed(3)),
      scaling: { 2: Number((two.rate / one.rate).toFixed(2)), 3: Number((three.rate / one.rate).toFixed(2)) },
    }),
  )
} finally {
  emulator.child.kill()
}
