import type { DeadLetterReason } from '../../src/envelope.ts'
import type { ConsumeOptions, Consumer, Delivery, Queue } from '../../src/queue.ts'

/**
 * Fault injection at the Queue contract: the same backend, except that every `extendLease` rejects
 * with a plain Error, as when the network is down for extensions only. Everything else (receive, ack,
 * the real lease) is the adapter's own. `deliveries` records what was handed out, to read their leases.
 */
export function withFailingExtensions(queue: Queue): Queue & { deliveries: Delivery[] } {
  const deliveries: Delivery[] = []
  const wrap = (d: Delivery): Delivery => {
    const wrapped: Delivery = {
      get id() {
        return d.id
      },
      get queue() {
        return d.queue
      },
      get attempt() {
        return d.attempt
      },
      get envelope() {
        return d.envelope
      },
      get malformed() {
        return d.malformed
      },
      get leaseExpiresAt() {
        return d.leaseExpiresAt
      },
      ack: () => d.ack(),
      retry: (ms: number) => d.retry(ms),
      deadLetter: (reason: DeadLetterReason) => d.deadLetter(reason),
      release: () => d.release(),
      extendLease: () => Promise.reject(new Error('injected fault: the extension request failed')),
    }
    deliveries.push(d)
    return wrapped
  }
  return {
    deliveries,
    driver: queue.driver,
    send: (...args) => queue.send(...args),
    sendBatch: (...args) => queue.sendBatch(...args),
    stats: (name) => queue.stats(name),
    peekDeadLetters: (...args) => queue.peekDeadLetters(...args),
    redrive: (...args) => queue.redrive(...args),
    close: () => queue.close(),
    consume(name: string, options: ConsumeOptions): Consumer {
      const inner = queue.consume(name, options)
      return {
        queue: inner.queue,
        get consuming() {
          return inner.consuming
        },
        take: (max: number) => inner.take(max).map(wrap),
        close: () => inner.close(),
      }
    },
  }
}
