// 20,000 messages published and processed through Conveyor's Pub/Sub adapter and worker, and in the same
// run by a plain @google-cloud/pubsub subscription that parses and acks each message (the anchor), both
// on Google's emulator in its own process. Each side: the consumer starts, 20,000 messages are published
// (Conveyor: its Producer; anchor: topic.publishMessage with the client's batching), timed until every
// message has been handled. Handlers are no-ops. Each side gets its own topic and subscription.
// Last line: { "bench": "pubsub", "conveyorMsgsPerSec", "anchorMsgsPerSec", "ratio" }
import { PubSub } from '@google-cloud/pubsub'
import { PubSubQueue } from '../adapters/pubsub/index.ts'
import { createLogger } from '../src/logger.ts'
import { startPubSubEmulator } from '../test/support/pubsub-emulator.ts'
import { BENCH_PAYLOAD, timeNoopJobs } from './support/noop-jobs.ts'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000)
const CONCURRENCY = 64

async function conveyor(): Promise<number> {
  const log = createLogger({ level: 'warn' })
  const queue = new PubSubQueue({ autoCreate: true, topicPrefix: 'conveyor-' }, { logger: log })
  await queue.ensureQueue('bench')
  const seconds = await timeNoopJobs(queue, {
    messages: MESSAGES,
    concurrency: CONCURRENCY,
    logger: log,
    batch: 500,
    parallel: 1,
  })
  await queue.close()
  return MESSAGES / seconds
}

async function anchor(): Promise<number> {
  const pubsub = new PubSub()
  const [topic] = await pubsub.createTopic('anchor-bench')
  const [subscription] = await topic.createSubscription('anchor-bench-sub')
  let done = 0
  let finished!: () => void
  const allDone = new Promise<void>((r) => {
    finished = r
  })
  subscription.on('message', (message) => {
    JSON.parse(message.data.toString())
    message.ack()
    if (++done === MESSAGES) finished()
  })
  const body = Buffer.from(JSON.stringify({ type: 'bench.noop', payload: BENCH_PAYLOAD }))
  const started = performance.now()
  for (let sent = 0; sent < MESSAGES; sent += 500) {
    await Promise.all(Array.from({ length: 500 }, () => topic.publishMessage({ data: body })))
  }
  await allDone
  const seconds = (performance.now() - started) / 1000
  await subscription.close()
  await pubsub.close()
  return MESSAGES / seconds
}

const emulator = await startPubSubEmulator()
try {
  const anchorMsgsPerSec = Math.round(await anchor())
  console.log(`plain subscription: ${anchorMsgsPerSec} msg/s`)
  const conveyorMsgsPerSec = Math.round(await conveyor())
  console.log(`conveyor (concurrency ${CONCURRENCY}): ${conveyorMsgsPerSec} msg/s`)
  console.log(
    JSON.stringify({
      bench: 'pubsub',
      conveyorMsgsPerSec,
      anchorMsgsPerSec,
      ratio: Number((conveyorMsgsPerSec / anchorMsgsPerSec).toFixed(3)),
    }),
  )
} finally {
  await emulator.stop()
}
