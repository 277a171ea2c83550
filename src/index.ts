export { MemoryJobStore, type MemoryOptions, MemoryQueue } from '../adapters/memory/index.ts'
export { type Config, describeSettings, loadConfig, parseWeights } from '../config/index.ts'
export { type Backoff, backoffDelay } from './backoff.ts'
export { type Clock, ManualClock, systemClock } from './clock.ts'
export type { QueueRuntime } from './create-queue.ts'
export { createQueue } from './create-queue.ts'
export type { DeadLetterInfo, DeadLetterReason, Envelope } from './envelope.ts'
export * from './errors.ts'
export { defineJob, type JobContext, type JobDefinition, type JobSpec } from './job.ts'
export { JobLedger, type JobLedgerOptions } from './ledger/ledger.ts'
export { createLogger, type Logger } from './logger.ts'
export { Metrics } from './metrics.ts'
export { type EnqueueOptions, Producer } from './producer.ts'
export type {
  ConsumeOptions,
  Consumer,
  DeadLetter,
  Delivery,
  Queue,
  QueueStats,
  SendOptions,
} from './queue.ts'
export { JobRegistry } from './registry.ts'
export { createJobStore } from './store/create-job-store.ts'
export type {
  ClaimResult,
  JobPage,
  JobQuery,
  JobRecord,
  JobStatus,
  JobStore,
  Transition,
} from './store/job-store.ts'
export { JobOutcomes } from './testing.ts'
export { Worker } from './worker.ts'
export type { JobOutcomeEvent, WorkerOptions } from './worker-options.ts'
