import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { MemoryQueue } from '../../adapters/memory/index.ts'
import { MemoryJobStore } from '../../adapters/memory/job-store.ts'
import type { JobDefinition } from '../../src/job.ts'
import { JobLedger } from '../../src/ledger/ledger.ts'
import { Metrics } from '../../src/metrics.ts'
import { Producer } from '../../src/producer.ts'
import type { Queue } from '../../src/queue.ts'
import { JobRegistry } from '../../src/registry.ts'
import { buildApp } from '../../src/service/http/app.ts'
import type { JobStore } from '../../src/store/job-store.ts'
import { JobOutcomes } from '../../src/testing.ts'
import { Worker } from '../../src/worker.ts'
import { testLogger } from './async.ts'

const SECRET = 'test-secret-that-is-long-enough-for-hs256'
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 60_000 })
export const tokens = {
  alice: `Bearer ${sign({ sub: 'alice' })}`,
  bob: `Bearer ${sign({ sub: 'bob' })}`,
  admin: `Bearer ${sign({ sub: 'root', role: 'admin' })}`,
}

export interface LedgerStack<S extends JobStore = MemoryJobStore> {
  queue: Queue
  store: S
  ledger: JobLedger
  registry: JobRegistry
  producer: Producer
  worker: Worker
  outcomes: JobOutcomes
  metrics: Metrics
  app: FastifyInstance
  close(): Promise<void>
}

/**
 * The memory queue, the memory job store and its ledger, a producer, a started worker (lease 120 ms, so
 * cancel polling runs every 20 ms) and the HTTP app on them.
 */
export async function ledgerStack<S extends JobStore = MemoryJobStore>(
  jobs: JobDefinition[],
  options: { resultMaxBytes?: number; queue?: Queue; store?: S; random?: () => number } = {},
): Promise<LedgerStack<S>> {
  const queue = options.queue ?? new MemoryQueue()
  const store =
    options.store ??
    (new MemoryJobStore(
      options.resultMaxBytes ? { resultMaxBytes: options.resultMaxBytes } : {},
    ) as JobStore as S)
  const metrics = new Metrics()
  const ledger = new JobLedger({ store, logger: testLogger, metrics, timeoutMs: 500 })
  const registry = new JobRegistry(jobs)
  const producer = new Producer({ queue, registry, metrics, ledger })
  const worker = new Worker({
    queue,
    jobs: registry,
    logger: testLogger,
    metrics,
    ledger,
    leaseMs: 120,
    ...(options.random ? { random: options.random } : {}),
  })
  const outcomes = new JobOutcomes(worker)
  worker.start()
  const app = await buildApp({
    services: { queue, registry, producer, metrics, ledger, readinessQueue: 'default' },
    jwtSecret: SECRET,
    logger: testLogger,
    rateLimitPerMinute: 10_000,
  })
  return {
    queue,
    store,
    ledger,
    registry,
    producer,
    worker,
    outcomes,
    metrics,
    app,
    async close() {
      outcomes.close()
      await worker.stop(0)
      await app.close()
      await queue.close()
      ledger.close()
      await store.close()
    },
  }
}

export function post(
  app: FastifyInstance,
  body: unknown,
  authorization = tokens.alice,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { authorization, ...headers },
    payload: body as object,
  })
}

export function get(app: FastifyInstance, url: string, authorization = tokens.alice) {
  return app.inject({ method: 'GET', url, headers: { authorization } })
}

export function cancel(app: FastifyInstance, id: string, authorization = tokens.alice) {
  return app.inject({ method: 'POST', url: `/v1/jobs/${id}/cancel`, headers: { authorization } })
}
