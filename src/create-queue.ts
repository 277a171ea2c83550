import { MemoryQueue } from '../adapters/memory/index.ts'
import type { Config } from '../config/schema.ts'
import type { Clock } from './clock.ts'
import type { Logger } from './logger.ts'
import { importOptional } from './optional-import.ts'
import type { Queue } from './queue.ts'
import { createClaimStore } from './services.ts'

export interface QueueRuntime {
  clock?: Clock
  logger?: Logger
}

/**
 * The Queue the configuration asks for (`QUEUE_DRIVER`). The SQS and Pub/Sub adapters, and their SDKs,
 * are loaded only when asked for; a missing SDK rejects with a MissingDependencyError naming the package.
 */
export async function createQueue(config: Config, runtime: QueueRuntime = {}): Promise<Queue> {
  switch (config.queue.driver) {
    case 'memory':
      return new MemoryQueue({ capacity: config.memory.capacity, leaseMs: config.worker.leaseMs }, runtime)
    case 'sqs': {
      const { SqsQueue } = await importOptional(() => import('../adapters/sqs/index.ts'), 'QUEUE_DRIVER=sqs')
      return new SqsQueue(
        {
          ...config.sqs,
          ...(config.aws.region ? { region: config.aws.region } : {}),
          leaseMs: config.worker.leaseMs,
        },
        { ...runtime, claimStore: await createClaimStore(config) },
      )
    }
    case 'pubsub': {
      const { PubSubQueue } = await importOptional(
        () => import('../adapters/pubsub/index.ts'),
        'QUEUE_DRIVER=pubsub',
      )
      return new PubSubQueue(
        { ...config.pubsub, leaseMs: Math.min(600_000, Math.max(10_000, config.worker.leaseMs)) },
        { ...runtime, claimStore: await createClaimStore(config) },
      )
    }
  }
}
