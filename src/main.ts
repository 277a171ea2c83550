import { existsSync } from 'node:fs'
import { loadConfig } from '../config/load.ts'
import { parseWeights } from '../config/schema.ts'
import { greetJob } from '../handlers/demo.ts'
import { shippedJobs } from '../handlers/index.ts'
import { createQueue } from './create-queue.ts'
import { ConfigError } from './errors.ts'
import { createLogger } from './logger.ts'
import { Metrics } from './metrics.ts'
import { Producer } from './producer.ts'
import { JobRegistry } from './registry.ts'
import { Worker } from './worker.ts'

// Entry point: `npm start`. Reads the configuration (and a .env file if there is one), runs a worker,
// and stops gracefully on SIGTERM / SIGINT.
if (existsSync('.env')) process.loadEnvFile('.env')

let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`Conveyor cannot start: ${err.message}\n`)
  process.exit(1)
}

const log = createLogger({ level: config.log.level })
const queue = createQueue(config, { logger: log })
const metrics = new Metrics()
const registry = new JobRegistry(shippedJobs)
const worker = new Worker({
  queue,
  jobs: registry,
  logger: log,
  metrics,
  concurrency: config.worker.concurrency,
  leaseMs: config.worker.leaseMs,
  shutdownGraceMs: config.worker.shutdownGraceMs,
  weights: parseWeights(config.worker.weights),
}).start()

log.info({ driver: queue.driver }, 'Conveyor is running; Ctrl-C to stop')

if (queue.driver === 'memory') {
  // Nothing else can reach an in-process queue, so show it working with a few demo jobs.
  const producer = new Producer({ queue, registry, metrics })
  for (const name of ['Ada', 'Grace', 'Linus']) await producer.enqueue(greetJob, { name })
  await producer.enqueue(greetJob, { name: 'Flaky Fred', flaky: true })
  await producer.enqueue(greetJob, { name: 'Later Lin' }, { delayMs: 2_000 })
  log.info('enqueued 5 demo jobs (one fails once and retries, one is delayed 2 s)')
}

// A service stays up until told to stop, even with nothing to do.
const keepAlive = setInterval(() => {}, 1 << 30)
let stopping = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'draining')
    await worker.stop()
    await queue.close()
    clearInterval(keepAlive)
    log.info('stopped')
  })
}
