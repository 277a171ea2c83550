import { setTimeout as sleep } from 'node:timers/promises'
import { type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs'
import { receiveBackoffMs } from '../../src/backoff.ts'
import { Deque } from '../../src/deque.ts'
import { LeaseLostError } from '../../src/errors.ts'
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
 *
 * Leases: the consumer keeps the leases of deliveries waiting in its buffer alive (every lease/3 it
 * extends those with less than 2/3 left, so a buffer that fills while every slot is busy loses nothing),
 * and take() drops one whose lease ran out all the same, unrun (SQS delivers it again).
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
  #failing = false
  #keepAlive: ReturnType<typeof setTimeout> | undefined

  constructor(backend: SqsQueue, queue: string, options: ConsumeOptions, leaseMs: number) {
    this.#backend = backend
    this.queue = queue
    this.#options = options
    this.#leaseSeconds = Math.ceil(leaseMs / 1000)
    const pollers = Math.min(MAX_POLLERS, Math.max(1, Math.ceil(options.prefetch / SQS_MAX_BATCH)))
    for (let i = 0; i < pollers; i++) this.#pollers.push(this.#poll())
  }

  get consuming(): boolean {
    return !this.#closed && !this.#failing
  }

  take(max: number): Delivery[] {
    const out: Delivery[] = []
    const before = this.#buffer.length
    const now = this.#backend.now()
    while (out.length < max) {
      const d = this.#buffer.shift()
      if (!d) break
      if (d.leaseExpiresAt <= now) continue // visible again already: not ours to run or settle
      out.push(d)
    }
    if (this.#buffer.length < before) for (const wake of this.#wakeSpace.splice(0)) wake()
    return out
  }

  /** How many more messages to ask for now, up to the prefetch. */
  #room(): number {
    return Math.min(SQS_MAX_BATCH, this.#options.prefetch - this.#buffer.length - this.#reserved)
  }

  /** Extends the leases of buffered deliveries that have used a third of theirs; drops lost ones. */
  #keepBufferedLeases(): void {
    this.#keepAlive = undefined
    if (this.#closed || this.#buffer.length === 0) return
    const leaseMs = this.#leaseSeconds * 1000
    const now = this.#backend.now()
    for (const d of this.#buffer) {
      if (d.leaseExpiresAt - now > (leaseMs * 2) / 3) continue
      d.extendLease(leaseMs).catch((err: unknown) => {
        if (!(err instanceof LeaseLostError)) return // transient: the next round tries again
        d.leaseExpiresAt = 0 // take() drops it
      })
    }
    this.#scheduleKeepAlive()
  }

  #scheduleKeepAlive(): void {
    if (this.#keepAlive || this.#closed || this.#buffer.length === 0) return
    this.#keepAlive = setTimeout(() => this.#keepBufferedLeases(), (this.#leaseSeconds * 1000) / 3)
    this.#keepAlive.unref()
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
    if (this.#keepAlive) clearTimeout(this.#keepAlive)
    this.#abort.abort() // ends back-off pauses, not requests
    for (const wake of this.#wakeSpace.splice(0)) wake()
    const unstarted: SqsDelivery[] = []
    for (let d = this.#buffer.shift(); d; d = this.#buffer.shift()) unstarted.push(d)
    await Promise.all(unstarted.map((d) => d.release().catch(() => undefined)))
    await this.drained
  }

  get drained(): Promise<unknown> {
    return Promise.all(this.#pollers)
  }

  async #poll(): Promise<void> {
    let urls: QueueUrls | undefined
    let failures = 0
    while (!this.#closed) {
      const want = this.#room()
      if (want <= 0) {
        await new Promise<void>((resolve) => this.#wakeSpace.push(resolve))
        continue
      }
      this.#reserved += want
      let messages: Message[]
      let leaseExpiresAt = 0
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
          this.#backend.deadline(
            this.#backend.options.waitTimeSeconds * 1000 + this.#backend.options.requestTimeoutMs,
          ),
        )
        messages = out.Messages ?? []
        // SQS starts the visibility timeout when it picks the messages, moments before this answer
        // arrives (a long poll may have waited first): the worker keeps a sixth of the lease as margin.
        leaseExpiresAt = this.#backend.now() + this.#leaseSeconds * 1000
        if (failures > 0) this.#backend.log.info({ queue: this.queue }, 'SQS reachable again; receiving')
        failures = 0
        this.#failing = false
      } catch (err) {
        if (this.#closed) break
        failures++
        this.#failing = true
        const waitMs = receiveBackoffMs(failures)
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
        const delivery = await this.#backend.admit(this.queue, urls, message, leaseExpiresAt)
        if (!delivery) continue
        if (this.#closed) {
          await delivery.release().catch(() => undefined) // arrived after close: straight back
          continue
        }
        this.#buffer.push(delivery)
        accepted++
      }
      if (accepted > 0) {
        this.#scheduleKeepAlive()
        this.#options.onReadable()
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#abort.signal }).catch(() => undefined)
  }
}
