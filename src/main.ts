import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { loadConfig } from '../config/load.ts'
import { parseWeights } from '../config/schema.ts'
import { greetJob } from '../handlers/demo.ts'
import { handlersFromConfig } from '../handlers/index.ts'
import { createQueue } from './create-queue.ts'
import { ConfigError } from './errors.ts'
import { buildApp } from './http/app.ts'
import { JobLedger } from './ledger/ledger.ts'
import { createLogger } from './logger.ts'
import { OutboxMailer } from './mail/outbox.ts'
import { Metrics } from './metrics.ts'
import { Producer } from './producer.ts'
import { JobRegistry } from './registry.ts'
import { Scheduler } from './scheduler.ts'
import { createMailer } from './services.ts'
import { createJobStore } from './store/create-job-store.ts'
import { Worker } from './worker.ts'

// Entry point: `npm start [-- all|api|worker]`. Reads the configuration (and a .env file if there is
// one), runs the API and/or a worker, and stops gracefully on SIGTERM / SIGINT.
if (existsSync('.env')) process.loadEnvFile('.env')

function fail(message: string): never {
  process.stderr.write(`Conveyor cannot start: ${message}\n`)
  process.exit(1)
}

let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  fail(err.message)
}
const role = process.argv[2] ?? config.app.role
if (!['all', 'api', 'worker'].includes(role)) fail(`unknown role "${role}": use all, api or worker`)
if (role === 'api' && config.queue.driver === 'memory') {
  fail(
    'role "api" with QUEUE_DRIVER=memory would enqueue jobs that no worker can see (the memory queue lives in one process); use role "all", or QUEUE_DRIVER=sqs|pubsub',
  )
}

if (role !== 'all' && !config.app.jwtSecret) {
  fail(
    `role "${role}" needs AUTH_JWT_SECRET: API and worker processes sign and check download links with it, so they must share one`,
  )
}

const log = createLogger({ level: config.log.level })
const queue = createQueue(config, { logger: log })
const metrics = new Metrics()
const registry = new JobRegistry()
// The job ledger (JOB_STORE): records every tracked job; the API's GET/cancel and idempotency keys use it.
const jobStore = await createJobStore(config)
metrics.watchStore(jobStore)
const ledger = new JobLedger({ store: jobStore, logger: log, metrics })
if (role !== 'all' && jobStore.driver === 'memory') {
  log.warn(
    { role },
    "JOB_STORE=memory keeps job records inside this process: API and worker processes will not see each other's records; use JOB_STORE=dynamodb|firestore",
  )
}
const producer = new Producer({ queue, registry, metrics, ledger })
const generatedSecret = !config.app.jwtSecret
const jwtSecret = config.app.jwtSecret ?? randomBytes(32).toString('base64url')
const appUrl =
  config.app.url ??
  `http://${config.app.host.includes(':') ? `[${config.app.host}]` : config.app.host}:${config.app.port}`
const mailer = createMailer(config)
const handlers = handlersFromConfig(config, { producer, secret: jwtSecret, appUrl, mailer })
for (const job of handlers.jobs) registry.register(job)
const stops: (() => Promise<unknown>)[] = []
// Worker processes fire the ticks (once per tick across processes, through the job store); API
// processes hold the same schedules for listing and running them by hand.
const scheduler = new Scheduler({ producer, logger: log, schedules: handlers.schedules })

if (role === 'worker' || role === 'all') {
  const worker = new Worker({
    queue,
    jobs: registry,
    logger: log,
    metrics,
    ledger,
    concurrency: config.worker.concurrency,
    leaseMs: config.worker.leaseMs,
    shutdownGraceMs: config.worker.shutdownGraceMs,
    weights: parseWeights(config.worker.weights),
  }).start()
  scheduler.start()
  stops.push(async () => scheduler.stop())
  stops.push(() => worker.stop())
}

if (role === 'api' || role === 'all') {
  const outbox = mailer instanceof OutboxMailer && config.app.env !== 'production' ? mailer : undefined
  const app = await buildApp({
    services: {
      queue,
      registry,
      producer,
      metrics,
      ledger,
      scheduler,
      readinessQueue: 'default',
      exports: handlers.exports,
      ...(outbox ? { outbox } : {}),
    },
    jwtSecret,
    logger: log,
    rateLimitPerMinute: config.app.rateLimitPerMinute,
  })
  const url = await app.listen({ host: config.app.host, port: config.app.port })
  stops.unshift(() => app.close())
  log.info({ url, driver: queue.driver, role }, 'Conveyor API listening')
  if (generatedSecret) {
    // A random secret exists only in this process, so the demo user may also look at the queues.
    const token = app.jwt.sign(
      { sub: 'demo', email: 'demo@example.com', role: 'admin' },
      { expiresIn: '12h' },
    )
    const auth = `-H "authorization: Bearer ${token}"`
    process.stdout.write(
      `\nAPI: ${url}   (AUTH_JWT_SECRET is unset: a random secret was made for this run)\n` +
        `Demo token (user "demo", demo@example.com, admin, 12 h):\n  ${token}\n` +
        `Try:\n  curl -s -X POST ${url}/v1/exports ${auth} -H 'content-type: application/json' \\\n` +
        `    -d '{"kind":"activities","format":"csv","params":{"rows":100000}}'\n` +
        `  curl -s ${url}/v1/exports ${auth}\n` +
        `  curl -s ${url}/v1/activities/export.csv ${auth}\n` +
        `Queues and dead letters: ${url}/dashboard    API description: ${url}/openapi.json\n` +
        (outbox ? `Emails: ${url}/dev/outbox\n\n` : '\n'),
    )
  }
}

log.info({ driver: queue.driver, role }, 'Conveyor is running; Ctrl-C to stop')

if (queue.driver === 'memory' && role === 'all') {
  // A few demo jobs, to show the worker, a retry and a delay in the logs.
  for (const name of ['Ada', 'Grace', 'Linus']) await producer.enqueue(greetJob, { name })
  await producer.enqueue(greetJob, { name: 'Flaky Fred', flaky: true })
  await producer.enqueue(greetJob, { name: 'Later Lin' }, { delayMs: 2_000 })
  await producer.enqueue('email.welcome', { to: 'demo@example.com', name: 'Demo' })
  const demoExport = await handlers.exports.request(
    'demo',
    { kind: 'activities', format: 'csv', params: { rows: 10_000 } },
    'demo@example.com',
  )
  log.info(
    { exportId: demoExport.id },
    'enqueued demo jobs: 5 greetings (one fails once and retries, one is delayed 2 s), a welcome email and a CSV export for user "demo"',
  )
}

// A service stays up until told to stop, even with nothing to do.
const keepAlive = setInterval(() => {}, 1 << 30)
let stopping = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'draining')
    for (const stop of stops) await stop()
    await queue.close()
    ledger.close()
    await jobStore.close()
    clearInterval(keepAlive)
    log.info('stopped')
  })
}
