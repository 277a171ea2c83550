// One worker process of bench/scale.ts: a Conveyor Worker on the SQS queue `bench` (fauxqs at
// BENCH_ENDPOINT, prefix BENCH_PREFIX) with a no-op job. It waits for "go" from the parent (so every
// process starts at once), reports handled jobs every 25 ms, and on "stop" stops and reports how many
// SQS requests it made.
import Type from 'typebox'
import { SqsQueue } from '../../adapters/sqs/index.ts'
import { defineJob } from '../../src/job.ts'
import { createLogger } from '../../src/logger.ts'
import { totalProviderRequests } from '../../src/provider-requests.ts'
import { Worker } from '../../src/worker.ts'

const send = (message: unknown) => process.send!(message)
const logger = createLogger({ level: 'warn' })
const queue = new SqsQueue(
  { endpoint: process.env.BENCH_ENDPOINT!, autoCreate: true, queuePrefix: process.env.BENCH_PREFIX! },
  { logger },
)
let handled = 0
const job = defineJob({
  type: 'bench.noop',
  queue: 'bench',
  schema: Type.Object({ userId: Type.String(), email: Type.String(), template: Type.String() }),
  track: false,
  handle: () => {
    handled++
  },
})
const worker = new Worker({
  queue,
  jobs: [job],
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 64),
  logger,
})
await queue.urls('bench')
let reporter: ReturnType<typeof setInterval> | undefined
process.on('message', async (message: string) => {
  if (message === 'go') {
    worker.start()
    reporter = setInterval(() => send({ handled }), 25)
  } else if (message === 'stop') {
    clearInterval(reporter)
    await worker.stop(1_000)
    await queue.close()
    send({ handled, requests: totalProviderRequests('sqs'), final: true })
    process.disconnect()
  }
})
send({ ready: true })
