import { MemoryQueue } from '../adapters/memory/index.ts'
import type { Config } from '../config/schema.ts'
import type { Clock } from './clock.ts'
import type { Queue } from './queue.ts'

export interface QueueRuntime {
  clock?: Clock
}

/** The Queue the configuration asks for (`QUEUE_DRIVER`). */
export function createQueue(config: Config, runtime: QueueRuntime = {}): Queue {
  switch (config.queue.driver) {
    case 'memory':
      return new MemoryQueue({ capacity: config.memory.capacity, leaseMs: config.worker.leaseMs }, runtime)
  }
}
