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
        { autoCreate: true, topicPrefix: prefix, leaseMs, relayHoldMs: 10_000, pullWaitMs: 1_000 },
        { logger },
      )
  }
}

/** Thrown by a delivery's extendLease while the suite's extension fault is on. */
export class InjectedExtensionFault extends Error {
  override name = 'InjectedExtensionFault'
  readonly code = 'INJECTED_EXTENSION_FAULT'
}

export interface Instrumentation {
  /** While true, every `extendLease` rejects as a backend refusing it would. */
  failing: () => boolean
  /** Called when a settlement (ack, retry, dead-letter) of a delivery has reached the backend. */
  settled: (delivery: Delivery, how: 'ack' | 'retry' | 'deadLetter') => void
}

/**
 * The queue as the worker sees it in the fault suite: the real adapter, with one fault that can be
 * injected on the consuming side (refused lease extensions) and a report of every settlement that
 * completed (so a run counts as in flight until its ack has reached the broker, not only until its
 * handler returned).
 */
export function instrumentQueue(queue: Queue, inst: Instrumentation): Queue {
  const wrapDelivery = (d: Delivery): Delivery =>
    new Proxy(d, {
      get(target, prop) {
        if (prop === 'extendLease' && inst.failing())
          return () => Promise.reject(new InjectedExtensionFault('lease extension refused (injected)'))
        if (prop === 'ack' || prop === 'retry' || prop === 'deadLetter') {
          const settle = Reflect.get(target, prop, target) as (...a: unknown[]) => Promise<void>
          return (...args: unknown[]) => settle.apply(target, args).then(() => inst.settled(target, prop))
        }
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
