#!/usr/bin/env node
import { existsSync } from 'node:fs'
import { loadConfig } from '../../config/load.ts'
import { parseWeights } from '../../config/schema.ts'
import { greetJob } from '../../handlers/demo.ts'
import { failInterruptedExports } from '../../handlers/exports/jobs.ts'
import { handlersFromConfig } from '../../handlers/index.ts'
import { createQueue } from '../create-queue.ts'
import { ConfigError } from '../errors.ts'
import { JobLedger } from '../ledger/ledger.ts'
import { createLogger, logFormat } from '../logger.ts'
import { OutboxMailer } from '../mail/outbox.ts'
import { Metrics } from '../metrics.ts'
import { Producer } from '../producer.ts'
import { JobRegistry } from '../registry.ts'
import { Scheduler } from '../scheduler.ts'
import { createMailer } from '../services.ts'
import { createJobStore } from '../store/create-job-store.ts'
import { Worker } from '../worker.ts'
import { devSecret } from './dev-secret.ts'
import { buildApp } from './http/app.ts'

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

const log = createLogger({ level: config.log.level, format: logFormat(config.log.format, config.app.env) })
const queue = await createQueue(config, { logger: log })
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
// Without AUTH_JWT_SECRET (development only): a secret kept in STORAGE_DIR, so tokens and emailed
// links survive restarts and `npm run conveyor -- token` signs with the same one.
const dev = config.app.jwtSecret ? undefined : devSecret(config.storage.dir)
const jwtSecret = config.app.jwtSecret ?? dev!.secret
const appUrl =
  config.app.url ??
  `http://${config.app.host.includes(':') ? `[${config.app.host}]` : config.app.host}:${config.app.port}`
const mailer = await createMailer(config)
let handlers: Awaited<ReturnType<typeof handlersFromConfig>>
try {
  handlers = await handlersFromConfig(config, { producer, secret: jwtSecret, appUrl, mailer })
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  fail(err.message)
}
for (const job of handlers.jobs) registry.register(job)
const stops: (() => Promise<unknown>)[] = []
let worker: Worker | undefined

// Signals are handled from here on; a stop that arrives during start-up waits for it to finish.
const started = Promise.withResolvers<void>()
const keepAlive = setInterval(() => {}, 1 << 30) // a service stays up until told to stop
let stopping = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return
    stopping = true
    await started.promise
    log.info({ signal }, 'draining')
    for (const stop of stops) await stop()
    if (queue.driver === 'memory') await logMemoryDrops()
    await queue.close()
    await mailer.close()
    ledger.close()
    await jobStore.close()
    clearInterval(keepAlive)
    log.info('stopped')
  })
}

/** The memory queue keeps nothing across restarts: say what goes with this process, by queue. */
async function logMemoryDrops(): Promise<void> {
  const dropped: Record<string, number> = {}
  let total = 0
  for (const name of registry.queues()) {
    const stats = await queue.stats(name)
    const count = (stats.ready ?? 0) + (stats.delayed ?? 0) + (stats.inFlight ?? 0)
    if (count > 0) dropped[name] = count
    total += count
  }
  if (total > 0) {
    log.warn(
      { dropped, total },
      `the memory queue keeps nothing across restarts: ${total === 1 ? '1 job not run is' : `${total} jobs not run are`} lost with this process`,
    )
  }
}

if (queue.driver === 'memory') {
  // Exports left queued or running by a previous process can never finish: their jobs died with it.
  const failed = await failInterruptedExports(handlers.exports)
  if (failed > 0)
    log.warn({ exports: failed }, 'exports interrupted by the last stop (memory queue) are marked failed')
}

// Worker processes fire the ticks (once per tick across processes, through the job store); API
// processes hold the same schedules for listing and running them by hand.
const scheduler = new Scheduler({ producer, logger: log, schedules: handlers.schedules })

if (role === 'worker' || role === 'all') {
  worker = new Worker({
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
  const running = worker
  stops.push(() => running.stop())
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
      ...(worker ? { worker } : {}),
      exports: handlers.exports,
      ...(outbox ? { outbox } : {}),
    },
    jwtSecret,
    logger: log,
    rateLimitPerMinute: config.app.rateLimitPerMinute,
    productName: config.app.brandName,
  })
  let url: string
  try {
    url = await app.listen({ host: config.app.host, port: config.app.port })
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'EADDRINUSE')
      fail(`port ${config.app.port} on ${config.app.host} is already in use: stop what uses it, or set PORT`)
    if (code === 'EADDRNOTAVAIL' || code === 'EACCES')
      fail(`cannot listen on ${config.app.host}:${config.app.port} (${code}): check HOST and PORT`)
    throw err
  }
  stops.unshift(() => app.close())
  log.info({ url, driver: queue.driver, role }, 'Conveyor API listening')
  const links =
    `Queues and dead letters: ${url}/dashboard    API description: ${url}/openapi.json\n` +
    (outbox ? `Emails: ${url}/dev/outbox\n\n` : '\n')
  if (dev) {
    // The development secret: the demo user may also look at the queues.
    const token = app.jwt.sign(
      { sub: 'demo', email: 'demo@example.com', role: 'admin' },
      { expiresIn: '12h' },
    )
    const auth = `-H "authorization: Bearer ${token}"`
    process.stdout.write(
      `\nAPI: ${url}   (AUTH_JWT_SECRET is unset: using the development secret in ${dev.path})\n` +
        `Demo token (user "demo", demo@example.com, admin, 12 h):\n  ${token}\n` +
        `Try:\n  curl -s -X POST ${url}/v1/exports ${auth} -H 'content-type: application/json' \\\n` +
        `    -d '{"kind":"activities","format":"csv","params":{"rows":100000}}'\n` +
        `  curl -s ${url}/v1/exports ${auth}\n` +
        `  curl -s ${url}/v1/jobs ${auth}      # your jobs: status, attempts, result\n` +
        `  curl -s ${url}/v1/activities/export.csv ${auth}\n` +
        `More tokens: npm run conveyor -- token --sub <user> [--email <address>] [--role admin]\n` +
        `Dashboard, signed in as the demo admin (the token stays in the # part, never sent to the server):\n  ${url}/dashboard#token=${token}\n` +
        links,
    )
  } else {
    process.stdout.write(
      `\nAPI: ${url}   (tokens are signed with AUTH_JWT_SECRET)\n` +
        `Make a token: npm run conveyor -- token --sub <user> [--email <address>] [--role admin] [--expires 12h]\n` +
        links,
    )
  }
}

log.info({ driver: queue.driver, role }, 'Conveyor is running; Ctrl-C to stop')

if (queue.driver === 'memory' && role === 'all') {
  // A few demo jobs, to show the worker, a retry and a delay in the logs.
  // Owned by the demo user, so the demo token sees them at GET /v1/jobs.
  const owner = 'demo'
  for (const name of ['Ada', 'Grace', 'Linus']) await producer.enqueue(greetJob, { name }, { owner })
  await producer.enqueue(greetJob, { name: 'Flaky Fred', flaky: true }, { owner })
  await producer.enqueue(greetJob, { name: 'Later Lin' }, { delayMs: 2_000, owner })
  await producer.enqueue('email.welcome', { to: 'demo@example.com', name: 'Demo' }, { owner })
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
started.resolve()
