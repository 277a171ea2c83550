import Type, { type Static, type TSchema } from 'typebox'
import { MemoryOptionsSchema } from '../adapters/memory/options.ts'
import { WorkerSettingsSchema } from '../src/worker-options.ts'

/**
 * Every setting Conveyor reads, in one schema. Each leaf names its environment variable (`env`), its
 * default and what it does; `loadConfig` reads the variables, converts, fills defaults and reports every
 * problem at once. The README's settings table is this file.
 */
function env<T extends TSchema>(name: string, schema: T, description: string): T {
  // Copy with descriptors: TypeBox marks its kind with a non-enumerable key that a spread would drop.
  const copy = Object.create(Object.getPrototypeOf(schema), Object.getOwnPropertyDescriptors(schema)) as T
  return Object.assign(copy, { env: name, description })
}

const WEIGHTS_PATTERN = '^$|^[A-Za-z0-9_-]+:[0-9]+(,[A-Za-z0-9_-]+:[0-9]+)*$'

export const ConfigSchema = Type.Object({
  queue: Type.Object({
    driver: env(
      'QUEUE_DRIVER',
      Type.Enum(['memory'], { default: 'memory' }),
      'Queue backend. `memory` (default) needs nothing installed; it is not durable.',
    ),
  }),
  memory: Type.Object({
    capacity: env(
      'MEMORY_QUEUE_CAPACITY',
      MemoryOptionsSchema.properties.capacity,
      'Memory driver: most messages per queue (ready + delayed + in flight). Default 100000.',
    ),
  }),
  worker: Type.Object({
    concurrency: env(
      'WORKER_CONCURRENCY',
      WorkerSettingsSchema.properties.concurrency,
      'Handlers running at once, across all queues. Default 16.',
    ),
    leaseMs: env(
      'WORKER_LEASE_MS',
      WorkerSettingsSchema.properties.leaseMs,
      'Lease (visibility timeout) per delivery, extended while a job runs. Default 30000.',
    ),
    shutdownGraceMs: env(
      'SHUTDOWN_GRACE_MS',
      WorkerSettingsSchema.properties.shutdownGraceMs,
      'On SIGTERM, how long running jobs may finish before they are handed back. Default 30000.',
    ),
    weights: env(
      'QUEUE_WEIGHTS',
      Type.String({
        pattern: WEIGHTS_PATTERN,
        default: '',
        errorMessage: 'must look like name:weight,name:weight',
      }),
      'Queue weights as `name:weight,...`, e.g. `critical:6,default:3,low:1`. Default: every queue 1.',
    ),
  }),
  log: Type.Object({
    level: env(
      'LOG_LEVEL',
      Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
      'pino log level. Default info.',
    ),
  }),
})

export type Config = Static<typeof ConfigSchema>

/** `critical:6,default:3` → { critical: 6, default: 3 }. */
export function parseWeights(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const pair of text.split(',')) {
    if (!pair) continue
    const [name, weight] = pair.split(':')
    out[name!] = Number(weight)
  }
  return out
}
