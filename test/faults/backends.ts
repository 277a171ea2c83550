import type { Logger } from 'pino'
import { MemoryQueue } from '../../adapters/memory/index.ts'
import { PubSubQueue } from '../../adapters/pubsub/index.ts'
import { SqsQueue } from '../../adapters/sqs/index.ts'
import type { Consumer, Delivery, Queue } from '../../src/queue.ts'

export type Backend = 'memory' | 'sqs' | 'pubsub'

export interface QueueSpec {
  backend: Backend
  /** SQS endpoint (fauxqs, or the proxy in front of it). Pub/Sub reads PUBSUB_EMULATOR_HOST. */
  endpoint?: string
  /** Per-scenario prefix so scenarios never share a queue. */
  prefix: string
  leaseMs: number
  logger: Logger
}

/** The queue a fault scenario's processes use; the same settings in the harness and in every worker. */
export function makeQueue(spec: QueueSpec): Queue {
  const { backend, endpoint, prefix, leaseMs, logger } = spec
  switch (backend) {
    case 'memory':
      return new MemoryQueue({ leaseMs })
    case 'sqs':
      return new SqsQueue(
        { endpoint, autoCreate: true, queuePrefix: prefix, waitTimeSeconds: 1, leaseMs },
        { logger },
      )
    case 'pubsub':
      return new PubSubQueue(
        { autoCreate: true, topicPrefix: prefix, leaseMs, relayHoldMs: 10_000 },
        { logger },
      )
  }
}

/** Thrown by a delivery's extendLease while the suite's extension fault is on. */
export class InjectedExtensionFault extends Error {
  override name = 'InjectedExtensionFault'
  readonly code = 'INJECTED_EXTENSION_FAULT'
}

/**
 * The queue with one fault injected on the consuming side: while `failing()` is true, every
 * `extendLease` rejects as a backend refusing it would. Everything else goes to the real adapter.
 */
export function withFailingExtensions(queue: Queue, failing: () => boolean): Queue {
  const wrapDelivery = (d: Delivery): Delivery =>
    new Proxy(d, {
      get(target, prop) {
        if (prop === 'extendLease' && failing())
          return () => Promise.reject(new InjectedExtensionFault('lease extension refused (injected)'))
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  const wrapConsumer = (c: Consumer): Consumer =>
    new Proxy(c, {
      get(target, prop) {
        if (prop === 'take') return (max: number) => target.take(max).map(wrapDelivery)
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  return new Proxy(queue, {
    get(target, prop) {
      if (prop === 'consume')
        return (...args: Parameters<Queue['consume']>) => wrapConsumer(target.consume(...args))
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
