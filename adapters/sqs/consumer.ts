import { setTimeout as sleep } from 'node:timers/promises'
import { type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs'
import { Deque } from '../../src/deque.ts'
import type { ConsumeOptions, Consumer, Delivery } from '../../src/queue.ts'
import type { SqsDelivery } from './delivery.ts'
import { SQS_MAX_BATCH } from './options.ts'
import type { SqsQueue } from './queue.ts'
import type { QueueUrls } from './resources.ts'

const MAX_POLLERS = 16

/**
 * Long-polls one queue with enough concurrent ReceiveMessage calls (10 messages each) to keep `prefetch`
 * deliveries buffered, so a worker's concurrency is not capped at SQS's batch size. A failed poll backs
 * off (0.2 s doubling to 5 s) and tries again.
 */
export class SqsConsumer implements Consumer {
  readonly queue: string
  readonly #backend: SqsQueue
  readonly #options: ConsumeOptions
  readonly #leaseSeconds: number
  readonly #buffer = new Deque<SqsDelivery>()
  readonly #abort = new AbortController()
  readonly #pollers: Promise<void>[] = []
  #reserved = 0
  #wakeSpace: (() => void)[] = []
  #closed = false

  constructor(backend: SqsQueue, queue: string, options: ConsumeOptions, leaseMs: number) {
    this.#backend = backend
    this.queue = queue
    this.#options = options
    this.#leaseSeconds = Math.ceil(leaseMs / 1000)
    const pollers = Math.min(MAX_POLLERS, Math.max(1, Math.ceil(options.prefetch / SQS_MAX_BATCH)))
    for (let i = 0; i < pollers; i++) this.#pollers.push(this.#poll())
  }

  take(max: number): Delivery[] {
    const out: Delivery[] = []
    while (out.length < max) {
      const d = this.#buffer.shift()
      if (!d) break
      out.push(d)
    }
    if (out.length > 0) for (const wake of this.#wakeSpace.splice(0)) wake()
    return out
  }

  /**
   * Stops receiving and hands back what was received but not taken. Polls under way are not aborted:
   * SQS (and fauxqs) would still deliver into an abandoned long poll, hiding those messages for a whole
   * visibility timeout. They finish (within waitTimeSeconds) and what they bring is handed back; close()
   * resolves then.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort() // ends back-off pauses, not requests
    for (const wake of this.#wakeSpace.splice(0)) wake()
    const unstarted: SqsDelivery[] = []
    for (let d = this.#buffer.shift(); d; d = this.#buffer.shift()) unstarted.push(d)
    await Promise.all(unstarted.map((d) => d.retry(0).catch(() => undefined)))
    await this.drained
  }

  get drained(): Promise<unknown> {
    return Promise.all(this.#pollers)
  }

  async #poll(): Promise<void> {
    let urls: QueueUrls | undefined
    let failures = 0
    while (!this.#closed) {
      const want = Math.min(SQS_MAX_BATCH, this.#options.prefetch - this.#buffer.length - this.#reserved)
      if (want <= 0) {
        await new Promise<void>((resolve) => this.#wakeSpace.push(resolve))
        continue
      }
      this.#reserved += want
      let messages: Message[]
      try {
        urls ??= await this.#backend.urls(this.queue)
        const out = await this.#backend.client.send(
          new ReceiveMessageCommand({
            QueueUrl: urls.url,
            MaxNumberOfMessages: want,
            WaitTimeSeconds: this.#backend.options.waitTimeSeconds,
            VisibilityTimeout: this.#leaseSeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
            MessageAttributeNames: ['All'],
          }),
        )
        messages = out.Messages ?? []
        if (failures > 0) this.#backend.log.info({ queue: this.queue }, 'SQS reachable again; receiving')
        failures = 0
      } catch (err) {
        if (this.#closed) break
        failures++
        const waitMs = Math.min(5_000, 200 * 2 ** (failures - 1)) * (0.5 + Math.random() / 2)
        if (failures === 1 || failures % 10 === 0) {
          this.#backend.log.warn(
            { queue: this.queue, err, failures, retryInMs: Math.round(waitMs) },
            'cannot receive from SQS; backing off',
          )
        }
        await this.#pause(waitMs)
        continue
      } finally {
        this.#reserved -= want
      }
      let accepted = 0
      for (const message of messages) {
        const delivery = await this.#backend.admit(this.queue, urls, message)
        if (!delivery) continue
        if (this.#closed) {
          await delivery.retry(0).catch(() => undefined) // arrived after close: straight back
          continue
        }
        this.#buffer.push(delivery)
        accepted++
      }
      if (accepted > 0) this.#options.onReadable()
    }
  }

  #pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#abort.signal }).catch(() => undefined)
  }
}
