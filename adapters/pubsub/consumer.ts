import { Duration, type Message, type Subscription } from '@google-cloud/pubsub'
import { Deque } from '../../src/deque.ts'
import type { ConsumeOptions, Consumer, Delivery } from '../../src/queue.ts'
import type { PubSubDelivery } from './delivery.ts'
import type { PubSubQueue } from './queue.ts'
import { DelayRelay } from './relay.ts'

/**
 * Streaming pull on the queue's subscription, with flow control sized from the prefetch and lease
 * extension by the client up to maxLeaseMs; plus the queue's delay relay.
 *
 * close() closes the stream at once, so a stopping worker holds no messages it will not run (each held
 * message would come back later with its delivery attempt raised); see close().
 */
export class PubSubConsumer implements Consumer {
  readonly queue: string
  readonly #backend: PubSubQueue
  readonly #options: ConsumeOptions
  readonly #buffer = new Deque<PubSubDelivery>()
  #subscription: Subscription | undefined
  #relay: DelayRelay | undefined
  #closed = false
  /** Taken and not yet settled. */
  readonly #outstanding = new Set<PubSubDelivery>()
  readonly #settling = new Set<Promise<unknown>>()
  #streamClosed = false
  #subscriptionName = ''
  #reopening = false
  readonly started: Promise<void>

  constructor(backend: PubSubQueue, queue: string, options: ConsumeOptions) {
    this.#backend = backend
    this.queue = queue
    this.#options = options
    this.started = this.#start().catch((err: unknown) =>
      backend.log.error({ err, queue }, 'cannot start Pub/Sub consumer'),
    )
  }

  async #start(): Promise<void> {
    const names = await this.#backend.names(this.queue)
    if (this.#closed) return
    this.#subscriptionName = names.subscription
    this.#open(names.subscription)
    this.#relay = new DelayRelay(this.#backend, names, this.#backend.options.relayHoldMs)
  }

  #open(name: string): void {
    const maxLeaseMs = this.#options.maxLeaseMs ?? this.#options.leaseMs ?? this.#backend.options.leaseMs
    const subscription = this.#backend.client.subscription(name, {
      // Flow control counts every unacked message: the prefetch buffer plus the jobs running.
      flowControl: { maxMessages: this.#options.prefetch * 2, allowExcessMessages: false },
      maxExtensionTime: Duration.from({ milliseconds: Math.max(10_000, maxLeaseMs) }),
      // A message holds its flow-control slot until its ack is sent: flush acks as often as publishes
      // (the client's default of 100 ms caps throughput at the window / 0.1 s).
      batching: { maxMilliseconds: this.#backend.options.batchFlushMs },
      // close() returns at once: no nacks, no more leasing (see close()).
      closeOptions: { timeout: Duration.from({ milliseconds: 0 }) },
    })
    subscription.on('message', (m: Message) => void this.#receive(m))
    subscription.on('error', (err: Error) => {
      // The client retries transient errors by itself and emits 'error' only for one it gives up on
      // (the subscription is gone, e.g. a restarted emulator): then open a new one once the resources
      // are back. Errors from a subscription already replaced are stale.
      if (subscription !== this.#subscription || this.#closed) return
      this.#backend.log.warn({ err, queue: this.queue }, 'Pub/Sub subscription failed; reopening it')
      void this.#reopen(subscription)
    })
    this.#subscription = subscription
  }

  async #reopen(old: Subscription): Promise<void> {
    if (this.#reopening) return
    this.#reopening = true
    await old.close().catch(() => undefined)
    for (let failures = 1; !this.#closed; failures++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** failures)))
      try {
        this.#backend.forget(this.queue)
        const names = await this.#backend.names(this.queue)
        if (!this.#closed) this.#open(names.subscription)
        this.#backend.log.info({ queue: this.queue }, 'Pub/Sub subscription reopened')
        break
      } catch (err) {
        this.#backend.log.warn({ err, queue: this.queue, failures }, 'cannot reopen Pub/Sub subscription yet')
      }
    }
    this.#reopening = false
  }

  async #receive(message: Message): Promise<void> {
    if (this.#closed) return // the stream is closing; the message's lease is not extended and it returns
    const delivery = await this.#backend.admit(this.queue, message)
    if (!delivery) return
    if (this.#closed) {
      await this.#backend.release(this.#subscriptionName, [message.ackId]).catch(() => undefined)
      return
    }
    delivery.consumer = this
    this.#buffer.push(delivery)
    this.#options.onReadable()
  }

  take(max: number): Delivery[] {
    const out: Delivery[] = []
    if (this.#closed) return out
    while (out.length < max) {
      const d = this.#buffer.shift()
      if (!d) break
      this.#outstanding.add(d)
      out.push(d)
    }
    return out
  }

  /** The subscription's name; settling by unary RPC after the stream closed needs it. */
  get subscriptionName(): string {
    return this.#subscriptionName
  }

  /** Whether settlements still go through the stream (else by unary RPC on the ack id). */
  get streaming(): boolean {
    return !this.#streamClosed
  }

  /** A delivery's settlement under way through the stream; close() lets these finish first. */
  settling(delivery: PubSubDelivery, done: Promise<unknown>): void {
    this.#outstanding.delete(delivery)
    const tracked = done.finally(() => this.#settling.delete(tracked))
    this.#settling.add(tracked)
  }

  /** Messages held by this consumer (buffered); delayed ones held by its relay. */
  counts(): { held: number; delayed: number } {
    return { held: this.#buffer.length, delayed: this.#relay?.held ?? 0 }
  }

  /**
   * Stops receiving: lets settlements under way reach the stream, closes the stream at once (no nacks, no
   * more lease extension), and hands untaken messages back by unary RPC. Taken deliveries settle by unary
   * RPC on their ack ids from then on.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.started
    const untaken: string[] = []
    for (let d = this.#buffer.shift(); d; d = this.#buffer.shift()) untaken.push(d.message.ackId)
    await Promise.allSettled([...this.#settling])
    this.#streamClosed = true
    await this.#subscription?.close().catch((err: unknown) => {
      this.#backend.log.warn({ err, queue: this.queue }, 'error closing Pub/Sub subscription')
    })
    await this.#backend.release(this.#subscriptionName, untaken).catch(() => undefined)
    if (this.#relay) {
      await this.#relay.stop()
      this.#backend.trackLoop(this.#relay.done)
    }
  }

  /** At Queue close: deliveries taken and never settled are handed back for redelivery. */
  async handBack(): Promise<void> {
    const ackIds = [...this.#outstanding].map((d) => d.message.ackId)
    this.#outstanding.clear()
    await this.#backend.release(this.#subscriptionName, ackIds).catch(() => undefined)
  }
}
