import { MemoryQueue } from '../adapters/memory/index.ts'
import { PubSubQueue } from '../adapters/pubsub/index.ts'
import { SqsQueue } from '../adapters/sqs/index.ts'
import type { Config } from '../config/schema.ts'
import type { Clock } from './clock.ts'
import type { Logger } from './logger.ts'
import type { Queue } from './queue.ts'
import { createClaimStore } from './services.ts'

export interface QueueRuntime {
  clock?: Clock
  logger?: Logger
}

/** The Queue the configuration asks for (`QUEUE_DRIVER`). */
export function createQueue(config: Config, runtime: QueueRuntime = {}): Queue {
  switch (config.queue.driver) {
    case 'memory':
      return new MemoryQueue({ capacity: config.memory.capacity, leaseMs: config.worker.leaseMs }, runtime)
    case 'sqs':
      return new SqsQueue(
        {
          ...config.sqs,
          ...(config.aws.region ? { region: config.aws.region } : {}),
          leaseMs: config.worker.leaseMs,
        },
        { ...runtime, claimStore: createClaimStore(config) },
      )
    case 'pubsub':
      return new PubSubQueue(
        { ...config.pubsub, leaseMs: Math.min(600_000, Math.max(10_000, config.worker.leaseMs)) },
        { ...runtime, claimStore: createClaimStore(config) },
      )
  }
}
