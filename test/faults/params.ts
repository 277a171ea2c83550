import type { Backend } from './backends.ts'

export type Scale = 'ci' | 'full'
export type ScenarioName =
  | 'sigkill'
  | 'sigterm'
  | 'broker-cut'
  | 'broker-stall'
  | 'poison'
  | 'long-jobs'
  | 'failing-extensions'

/** Which backends each scenario applies to (memory lives in one process: no process or network faults). */
export const SCENARIOS: Record<ScenarioName, Backend[]> = {
  sigkill: ['sqs', 'pubsub'],
  sigterm: ['sqs', 'pubsub'],
  'broker-cut': ['sqs', 'pubsub'],
  'broker-stall': ['sqs', 'pubsub'],
  poison: ['memory', 'sqs', 'pubsub'],
  'long-jobs': ['memory', 'sqs', 'pubsub'],
  'failing-extensions': ['memory', 'sqs', 'pubsub'],
}

export interface Params {
  leaseMs: number
  jobs: number
  jobMs: number
  concurrency: number
  prefetch?: number
  graceMs?: number
  jobTimeoutMs?: number
  /**
   * After every job is done, how long the workers keep running (late duplicates show up), and then how
   * long the harness reads the queue for messages still in it (jobs that would run again).
   */
  quietMs: number
  /** Give up waiting for the jobs after this long (the figures then show what was not done). */
  budgetMs: number
  faultMs?: number
  throughProxy?: boolean
}

export function params(scenario: ScenarioName, backend: Backend, scale: Scale): Params {
  const full = scale === 'full'
  const ps = backend === 'pubsub'
  // Pub/Sub's ack deadline is at least 10 s; SQS's visibility timeout is whole seconds.
  const lease = backend === 'memory' ? 300 : ps ? 10_000 : full ? 3_000 : 1_000
  const quietMs = full ? lease + 1_000 : ps ? 2_000 : lease + 500
  switch (scenario) {
    case 'sigkill':
      return {
        leaseMs: ps ? lease : full ? 5_000 : 1_000,
        jobs: full ? 3_000 : 300,
        jobMs: full ? 200 : 100,
        concurrency: full ? 8 : 4,
        quietMs,
        budgetMs: full ? 300_000 : 90_000,
      }
    case 'sigterm':
      return {
        leaseMs: ps ? lease : full ? 5_000 : 1_000,
        jobs: full ? 400 : 24,
        jobMs: full ? 3_000 : 1_500,
        concurrency: full ? 8 : 4,
        graceMs: full ? 1_000 : 300,
        quietMs,
        budgetMs: full ? 300_000 : 90_000,
      }
    case 'broker-cut':
    case 'broker-stall':
      return {
        leaseMs: ps ? lease : full ? 5_000 : 1_000,
        jobs: full ? 6_000 : 300,
        jobMs: full ? 20 : 50,
        concurrency: full ? 8 : 4,
        faultMs: full ? 10_000 : 3_000,
        throughProxy: true,
        // A worker's receive back-off (up to 5 s) may still be running when the last job ends; a message
        // whose ack the fault swallowed runs again after it. When the fault comes late (a slow harness
        // noticed the 30th job late), that re-run comes after every job is done: wait for it, or it
        // would be found in the queue and counted as never finished.
        quietMs: quietMs + 5_000,
        budgetMs: full ? 600_000 : 120_000,
      }
    case 'poison':
      return {
        leaseMs: lease,
        jobs: full ? 500 : 60,
        jobMs: 20,
        concurrency: 4,
        quietMs,
        budgetMs: full ? 180_000 : 60_000,
      }
    case 'long-jobs':
    case 'failing-extensions':
      // Jobs three leases long, two slots per worker, more jobs than slots (a backlog waits in buffers).
      return {
        leaseMs: lease,
        jobs: 8,
        jobMs: ps ? 25_000 : 3 * lease,
        concurrency: 2,
        jobTimeoutMs: ps ? 30_000 : 6 * lease,
        faultMs: Math.round(1.5 * lease),
        quietMs,
        budgetMs: full ? 600_000 : 120_000,
      }
  }
}
