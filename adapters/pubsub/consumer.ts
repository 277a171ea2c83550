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
 * close() stops handing anything out. Messages that arrive after that stay unacked (the client keeps
 * their lease, flow control bounds them). Once every taken delivery is settled (or the Queue closes),
 * the subscription closes with NackImmediately, so everything held goes back at once, and no running
 * job is nacked under its handler.
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
  #outstanding = 0
  #shutdown: Promise<void> | undefined
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
    })
    subscription.on('message', (m: Message) => void this.#receive(m))
    subscription.on('error', (err: Error) => {
      this.#backend.log.warn({ err, queue: this.queue }, 'Pub/Sub subscription error')
      // The client retries transient errors itself; on one it gives up on (the subscription is gone,
      // e.g. a restarted emulator), it stops streaming: open a new one once the resources are back.
      const gone = (err as { code?: number }).code === 5 // NOT_FOUND
      if ((gone || !subscription.isOpen) && !this.#closed) void this.#reopen(subscription)
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
    if (this.#closed) return // held until the subscription closes, then nacked with the rest
    const delivery = await this.#backend.admit(this.queue, message)
    if (!delivery || this.#closed) return
    this.#buffer.push(delivery)
    this.#options.onReadable()
  }

  take(max: number): Delivery[] {
    const out: Delivery[] = []
    if (this.#closed) return out
    while (out.length < max) {
      const d = this.#buffer.shift()
      if (!d) break
      this.#outstanding++
      d.onSettled = () => {
        this.#outstanding--
        if (this.#closed && this.#outstanding === 0) void this.shutdown()
      }
      out.push(d)
    }
    return out
  }

  /** Messages held by this consumer (buffered or running); delayed ones held by its relay. */
  counts(): { held: number; delayed: number } {
    return { held: this.#buffer.length, delayed: this.#relay?.held ?? 0 }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.started
    this.#buffer.clear()
    if (this.#relay) {
      await this.#relay.stop()
      this.#backend.trackLoop(this.#relay.done)
    }
    if (this.#outstanding === 0) await this.shutdown()
  }

  /** Closes the subscription (NackImmediately): whatever it still holds is redelivered at once. */
  shutdown(): Promise<void> {
    this.#shutdown ??= (this.#subscription?.close() ?? Promise.resolve()).catch((err: unknown) => {
      this.#backend.log.warn({ err, queue: this.queue }, 'error closing Pub/Sub subscription')
    })
    return this.#shutdown
  }
}
