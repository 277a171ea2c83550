import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { MemoryQueue } from '../../adapters/memory/index.ts'
import { MemoryJobStore } from '../../adapters/memory/job-store.ts'
import { createHandlers, type HandlerOptions, type Handlers } from '../../handlers/index.ts'
import type { Clock } from '../../src/clock.ts'
import type { JobDefinition } from '../../src/job.ts'
import { JobLedger } from '../../src/ledger/ledger.ts'
import type { Mailer } from '../../src/mail/mailer.ts'
import { OutboxMailer } from '../../src/mail/outbox.ts'
import { Metrics } from '../../src/metrics.ts'
import { Producer } from '../../src/producer.ts'
import type { Queue } from '../../src/queue.ts'
import { JobRegistry } from '../../src/registry.ts'
import { Scheduler } from '../../src/scheduler.ts'
import { buildApp } from '../../src/service/http/app.ts'
import { FsObjectStore } from '../../src/storage/fs-store.ts'
import type { ObjectStore } from '../../src/storage/object-store.ts'
import type { JobStore } from '../../src/store/job-store.ts'
import { JobOutcomes } from '../../src/testing.ts'
import { Worker } from '../../src/worker.ts'
import { testLogger } from './async.ts'

export const SECRET = 'test-secret-that-is-long-enough-for-hs256'
const signer = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 600_000 })

/** `Bearer <JWT>` for `sub`, with an `email` claim unless it is null. */
export function bearer(sub: string, email: string | null = `${sub}@example.com`): string {
  return `Bearer ${signer(email ? { sub, email } : { sub })}`
}

export interface StackOptions {
  queue?: Queue
  store?: ObjectStore
  mailer?: Mailer
  /** Start the worker (default true). Without it exports stay queued. */
  worker?: boolean
  clock?: Clock
  appUrl?: string
  /** A job ledger on this store (`true`: a MemoryJobStore): job records, /v1/jobs/:id, /v1/admin/jobs. Default none. */
  jobStore?: JobStore | true
  /** More job types next to the shipped ones. */
  jobs?: JobDefinition[]
  /** The worker's lease (default the worker's 30 s); cancel polling runs every sixth of it. */
  leaseMs?: number
  handlers?: Partial<Omit<HandlerOptions, 'store' | 'mailer' | 'producer' | 'secret' | 'appUrl' | 'clock'>>
}

/**
 * The whole of Conveyor in one process, as `npm start` wires it: queue, object store, mailer, the
 * shipped handlers, a worker and the API. Defaults are the embedded ones: memory queue, files in a
 * temporary folder, the outbox.
 */
export class TestStack {
  queue!: Queue
  store!: ObjectStore
  mailer!: Mailer
  handlers!: Handlers
  app!: FastifyInstance
  worker: Worker | undefined
  outcomes: JobOutcomes | undefined
  producer!: Producer
  ledger: JobLedger | undefined
  dir!: string

  static async start(options: StackOptions = {}): Promise<TestStack> {
    const stack = new TestStack()
    await stack.#start(options)
    return stack
  }

  get outbox(): OutboxMailer | undefined {
    return this.mailer instanceof OutboxMailer ? this.mailer : undefined
  }

  async #start(options: StackOptions): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'conveyor-stack-'))
    this.queue = options.queue ?? new MemoryQueue()
    this.store = options.store ?? new FsObjectStore(join(this.dir, 'files'))
    this.mailer = options.mailer ?? new OutboxMailer(join(this.dir, 'outbox'), 'Conveyor <noreply@localhost>')
    const metrics = new Metrics()
    const registry = new JobRegistry()
    if (options.jobStore) {
      const store =
        options.jobStore === true
          ? new MemoryJobStore({}, options.clock ? { clock: options.clock } : {})
          : options.jobStore
      this.ledger = new JobLedger({ store, logger: testLogger, metrics })
    }
    const ledger = this.ledger ? { ledger: this.ledger } : {}
    this.producer = new Producer({ queue: this.queue, registry, metrics, ...ledger })
    this.handlers = createHandlers({
      store: this.store,
      mailer: this.mailer,
      producer: this.producer,
      secret: SECRET,
      appUrl: options.appUrl ?? 'http://conveyor.test',
      exportTtlMs: 168 * 3_600_000,
      pdfMaxRows: 20_000,
      maxActiveExportsPerUser: 3,
      emailsPerRecipientPerHour: 10,
      ...options.handlers,
      ...(options.clock ? { clock: options.clock } : {}),
    })
    for (const job of [...this.handlers.jobs, ...(options.jobs ?? [])]) registry.register(job)
    if (options.worker !== false) this.startWorker(registry, metrics, options.leaseMs)
    this.app = await buildApp({
      services: {
        queue: this.queue,
        registry,
        producer: this.producer,
        metrics,
        readinessQueue: 'default',
        exports: this.handlers.exports,
        scheduler: new Scheduler({
          producer: this.producer,
          logger: testLogger,
          schedules: this.handlers.schedules,
        }),
        ...ledger,
        ...(this.outbox ? { outbox: this.outbox } : {}),
      },
      jwtSecret: SECRET,
      logger: testLogger,
      rateLimitPerMinute: 10_000,
    })
  }

  startWorker(registry: JobRegistry, metrics: Metrics, leaseMs?: number): void {
    this.worker = new Worker({
      queue: this.queue,
      jobs: registry,
      logger: testLogger,
      metrics,
      concurrency: 4,
      ...(this.ledger ? { ledger: this.ledger } : {}),
      ...(leaseMs ? { leaseMs } : {}),
    }).start()
    this.outcomes = new JobOutcomes(this.worker)
  }

  /** Resolves when a job of `type` succeeds (the n-th such success, counting from 1). */
  async succeeded(type: string, n = 1, timeoutMs = 20_000): Promise<void> {
    let seen = 0
    await this.outcomes!.waitUntil(
      (e) => e.type === type && e.outcome === 'success' && ++seen === n,
      `${type} success #${n}`,
      timeoutMs,
    )
  }

  async close(): Promise<void> {
    this.outcomes?.close()
    await this.worker?.stop()
    await this.app.close()
    await this.queue.close()
    this.ledger?.close()
    await this.ledger?.store.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}
