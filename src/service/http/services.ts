import fp from 'fastify-plugin'
import type { ExportService } from '../../../handlers/exports/service.ts'
import type { JobLedger } from '../../ledger/ledger.ts'
import type { OutboxMailer } from '../../mail/outbox.ts'
import type { Metrics } from '../../metrics.ts'
import type { Producer } from '../../producer.ts'
import type { Queue } from '../../queue.ts'
import type { JobRegistry } from '../../registry.ts'
import type { Scheduler } from '../../scheduler.ts'

/** What routes need from the rest of Conveyor; reached as `app.conveyor`. */
export interface ConveyorServices {
  queue: Queue
  registry: JobRegistry
  producer: Producer
  metrics: Metrics
  /** A queue that readyz checks (it must answer stats()). */
  readinessQueue: string
  /** The worker in this process, if any: readyz reports queues it is not consuming. */
  worker?: { readonly notConsuming: readonly string[] }
  /**
   * The job ledger (JOB_STORE): without it POST /v1/jobs still enqueues, but job records, idempotency
   * keys, cancel and the /v1/admin/jobs routes are not there.
   */
  ledger?: JobLedger
  /** The export workflow; without it the /v1/exports and /v1/activities routes are not registered. */
  exports?: ExportService
  /** The development outbox, served at /dev/outbox; leave it out in production. */
  outbox?: OutboxMailer
  /**
   * The deployment's schedules, for GET /v1/admin/schedules and POST /v1/admin/schedules/:name/run (an
   * API process holds one without starting it: the worker processes fire the ticks).
   */
  scheduler?: Scheduler
}

declare module 'fastify' {
  interface FastifyInstance {
    conveyor: ConveyorServices
  }
}

/** Makes the shared services available to every route as a typed decorator. */
export const servicesPlugin = fp<{ services: ConveyorServices }>(
  async (app, { services }) => {
    app.decorate('conveyor', services)
  },
  { name: 'conveyor-services', fastify: '5.x' },
)
