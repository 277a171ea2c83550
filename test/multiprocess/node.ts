// One process of a multi-process deployment, started by test/multiprocess.test.ts as `node
// test/multiprocess/node.ts api|worker`. It wires Conveyor as src/service/main.ts does (configuration from the
// environment, the queue, the job store, the shipped handlers, the API or a worker and the scheduler)
// and adds the test's own jobs and a schedule every second. It prints one JSON line per event the test
// watches (pino), with its pid.
import { setTimeout as sleep } from 'node:timers/promises'
import { context, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import Type from 'typebox'
import { loadConfig } from '../../config/load.ts'
import { handlersFromConfig } from '../../handlers/index.ts'
import { createQueue } from '../../src/create-queue.ts'
import { defineJob } from '../../src/job.ts'
import { JobLedger } from '../../src/ledger/ledger.ts'
import { createLogger } from '../../src/logger.ts'
import { Metrics } from '../../src/metrics.ts'
import { Producer } from '../../src/producer.ts'
import { JobRegistry } from '../../src/registry.ts'
import { Scheduler } from '../../src/scheduler.ts'
import { buildApp } from '../../src/service/http/app.ts'
import { createJobStore } from '../../src/store/create-job-store.ts'
import { Worker } from '../../src/worker.ts'

const role = process.argv[2]
// An application with OpenTelemetry installed (no exporter: the test reads trace ids from the logs).
trace.setGlobalTracerProvider(new BasicTracerProvider())
propagation.setGlobalPropagator(new W3CTraceContextPropagator())
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
const config = loadConfig(process.env)
const log = createLogger({ level: 'info', name: `${role}-${process.pid}` }).child({ pid: process.pid, role })
const queue = await createQueue(config, { logger: log })
const store = await createJobStore(config)
const metrics = new Metrics()
metrics.watchStore(store)
const ledger = new JobLedger({ store, logger: log, metrics })
const registry = new JobRegistry()
const producer = new Producer({ queue, registry, metrics, ledger })
const handlers = await handlersFromConfig(config, {
  producer,
  secret: config.app.jwtSecret!,
  appUrl: config.app.url ?? 'http://127.0.0.1',
})

const tick = defineJob({
  type: 'test.tick',
  queue: 'ticks',
  schema: Type.Object({ tick: Type.String() }),
  handle: ({ tick }, { log }) => log.info({ event: 'tick ran', tick }, 'tick ran'),
})
const work = defineJob({
  type: 'test.work',
  queue: 'work',
  publishable: true,
  schema: Type.Object({ n: Type.Integer(), ms: Type.Integer({ minimum: 0, maximum: 10_000 }) }),
  timeoutMs: 15_000,
  async handle({ n, ms }, { log, signal }) {
    log.info({ event: 'work started', n }, 'work started')
    await sleep(ms, undefined, { signal })
    log.info({ event: 'work done', n }, 'work done')
    return { n, by: process.pid }
  },
})
// Exports are requested through the APIs but workers do not build them: the test counts the cap's
// slots, and a finished export would give its slot back mid-test.
for (const job of handlers.jobs) if (role === 'api' || job.queue !== 'exports') registry.register(job)
registry.register(tick)
registry.register(work)
const scheduler = new Scheduler({
  producer,
  logger: log,
  schedules: [
    {
      name: 'every-second',
      cron: '* * * * * *',
      job: 'test.tick',
      payload: (at: Date) => ({ tick: at.toISOString() }),
      overlap: 'allow',
    },
  ],
})

if (role === 'worker') {
  const worker = new Worker({
    queue,
    jobs: registry,
    logger: log,
    metrics,
    ledger,
    concurrency: config.worker.concurrency,
    leaseMs: config.worker.leaseMs,
  }).start()
  scheduler.start()
  const stop = async () => {
    scheduler.stop()
    await worker.stop(1_000)
    await queue.close()
    await store.close()
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  log.info({ event: 'ready' }, 'worker ready')
} else {
  const app = await buildApp({
    services: {
      queue,
      registry,
      producer,
      metrics,
      ledger,
      scheduler,
      readinessQueue: 'work',
      exports: handlers.exports,
    },
    jwtSecret: config.app.jwtSecret!,
    logger: log,
    rateLimitPerMinute: 10_000,
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  process.once('SIGTERM', async () => {
    await app.close()
    await queue.close()
    await store.close()
    process.exit(0)
  })
  log.info({ event: 'ready', url }, 'api ready')
}
