/**
 * One worker (or one enqueue probe) of the fault suite, as its own OS process so the harness can
 * SIGKILL and SIGTERM it. Settings come from the environment the harness sets; events go to the shared
 * file (and over IPC). Never run it by hand.
 */
import { createSigner } from 'fast-jwt'
import { pino } from 'pino'
import { createEnvelope } from '../../src/envelope.ts'
import { Metrics } from '../../src/metrics.ts'
import { Producer } from '../../src/producer.ts'
import { JobRegistry } from '../../src/registry.ts'
import { buildApp } from '../../src/service/http/app.ts'
import { Worker } from '../../src/worker.ts'
import { type Backend, instrumentQueue, makeQueue } from './backends.ts'
import { fileSink, settledEvent } from './events.ts'
import { FAULT_JOB, FAULT_QUEUE, faultJob } from './jobs.ts'

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback
  if (v === undefined) throw new Error(`${name} is required`)
  return v
}

const PROBE_SECRET = 'fault-probe-secret-fault-probe-secret'
const logger = pino({ level: process.env.FAULT_LOG_LEVEL ?? 'silent' }, pino.destination(2))
const sink = fileSink(env('FAULT_EVENTS'))
let failingExtensions = false
const queue = instrumentQueue(
  makeQueue({
    backend: env('FAULT_BACKEND') as Backend,
    endpoint: process.env.FAULT_ENDPOINT,
    prefix: env('FAULT_PREFIX'),
    leaseMs: Number(env('FAULT_LEASE_MS')),
    logger,
  }),
  {
    failing: () => failingExtensions,
    settled: (delivery, how) => {
      const event = settledEvent(delivery, how)
      if (event) sink(event)
    },
  },
)
// The harness dying must not leave workers behind.
process.on('disconnect', () => process.exit(1))

if (env('FAULT_ROLE', 'worker') === 'probe') {
  // Enqueues one job per request from the harness, straight through the queue (`send`) or through the
  // API (`post`: POST /v1/jobs, as a client would), and says how long it took and how it ended.
  const job = faultJob(sink, { timeoutMs: 30_000 })
  const registry = new JobRegistry([job])
  const metrics = new Metrics()
  const app = await buildApp({
    services: {
      queue,
      registry,
      metrics,
      producer: new Producer({ queue, registry, metrics }),
      readinessQueue: FAULT_QUEUE,
    },
    jwtSecret: PROBE_SECRET,
    logger,
  })
  const authorization = `Bearer ${createSigner({ key: PROBE_SECRET, algorithm: 'HS256' })({ sub: 'probe' })}`
  const send = async (key: string) => {
    const started = performance.now()
    try {
      const envelope = createEnvelope({
        type: FAULT_JOB,
        payload: { key, ms: 10 },
        maxAttempts: 5,
        now: Date.now(),
      })
      await queue.send(FAULT_QUEUE, envelope)
      process.send!({ kind: 'sent', key, ok: true, ms: performance.now() - started })
    } catch (err) {
      process.send!({ kind: 'sent', key, ok: false, ms: performance.now() - started, error: String(err) })
    }
  }
  const post = async (key: string) => {
    const started = performance.now()
    const res = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { authorization },
      payload: { type: FAULT_JOB, payload: { key, ms: 10 } },
    })
    process.send!({
      kind: 'posted',
      key,
      ok: res.statusCode === 202,
      status: res.statusCode,
      retryAfter: res.headers['retry-after'],
      ms: performance.now() - started,
    })
  }
  process.on('message', (m: { kind: string; key: string }) => {
    if (m.kind === 'send') void send(m.key)
    if (m.kind === 'post') void post(m.key)
  })
  process.on('SIGTERM', () => void Promise.all([app.close(), queue.close()]).finally(() => process.exit(0)))
  process.send!({ kind: 'ready' })
} else {
  const job = faultJob(sink, { timeoutMs: Number(env('FAULT_JOB_TIMEOUT_MS')) })
  const worker = new Worker({
    queue,
    jobs: [job],
    logger,
    concurrency: Number(env('FAULT_CONCURRENCY')),
    ...(process.env.FAULT_PREFETCH ? { prefetch: Number(process.env.FAULT_PREFETCH) } : {}),
    leaseMs: Number(env('FAULT_LEASE_MS')),
    shutdownGraceMs: Number(env('FAULT_GRACE_MS', '30000')),
  })
  worker.onOutcome((o) => {
    if (o.outcome === 'dead_letter')
      sink({
        e: 'dead_letter',
        id: o.id,
        pid: process.pid,
        attempt: o.attempt,
        t: Date.now(),
        reason: o.deadLetterCode,
      })
  })
  process.on('message', (m: { kind: string; on: boolean }) => {
    if (m.kind === 'fail-extensions') failingExtensions = m.on
  })
  process.on('SIGTERM', () => {
    void (async () => {
      await worker.stop()
      await queue.close()
      process.exit(0)
    })()
  })
  worker.start()
  process.send!({ kind: 'ready' })
}
