import Type, { type Static } from 'typebox'
import type { Clock } from './clock.ts'
import type { JobDefinition } from './job.ts'
import type { JobLedger } from './ledger/ledger.ts'
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import type { Queue } from './queue.ts'
import type { JobRegistry } from './registry.ts'
import { SchemaChecker } from './validation.ts'

export const WorkerSettingsSchema = Type.Object(
  {
    /** Most handlers running at once, shared by all queues. Default 16. */
    concurrency: Type.Integer({ minimum: 1, maximum: 10_000, default: 16 }),
    /** Deliveries each queue's consumer may hold before they run. Default: the concurrency. */
    prefetch: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    /**
     * Lease (visibility timeout) per delivery. A job still running at half of it has its lease extended
     * by this much again, until it settles or times out. Default 30000 ms.
     */
    leaseMs: Type.Integer({ minimum: 100, default: 30_000 }),
    /** On stop, how long running jobs may finish before they are aborted and handed back. Default 30000 ms. */
    shutdownGraceMs: Type.Integer({ minimum: 0, default: 30_000 }),
    /**
     * Queue weights, e.g. { critical: 6, default: 3, low: 1 }: when all have work, slots go to them in
     * that ratio. Queues the jobs use but not listed here get weight 1. Default {}.
     */
    weights: Type.Record(Type.String({ minLength: 1 }), Type.Integer({ minimum: 1, maximum: 1000 }), {
      default: {},
    }),
  },
  { additionalProperties: false },
)

export type WorkerSettings = Static<typeof WorkerSettingsSchema>

export const workerSettings = new SchemaChecker(WorkerSettingsSchema)

export interface WorkerOptions extends Partial<WorkerSettings> {
  queue: Queue
  jobs: Iterable<JobDefinition> | JobRegistry
  logger?: Logger
  metrics?: Metrics
  clock?: Clock
  /** Source of jitter; tests pass a fixed one. Default Math.random. */
  random?: () => number
  /** The job ledger: records each attempt, progress and result, and cancels jobs on request. Default none. */
  ledger?: JobLedger
}

/**
 * What happened to one attempt. `released` = handed back unfinished at shutdown; `cancelled` = cancelled
 * through the ledger (before it started, or while it ran); `duplicate` = a delivery of a job the ledger
 * says already finished, acked without running. With a ledger, listeners hear of an outcome once the
 * ledger has recorded it (or given up on the write), so a record read after the event shows it.
 */
export interface JobOutcomeEvent {
  id: string
  type: string | undefined
  queue: string
  attempt: number
  outcome: 'success' | 'retry' | 'timeout' | 'dead_letter' | 'released' | 'cancelled' | 'duplicate'
  /** Retry delay chosen, for `retry` and `timeout`. */
  retryInMs?: number
  /** Why, for `dead_letter`. */
  deadLetterCode?: string
  error?: unknown
}
