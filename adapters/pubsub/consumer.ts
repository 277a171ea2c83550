import { setTimeout as sleep } from 'node:timers/promises'
import { Duration, type Message, type Subscription } from '@google-cloud/pubsub'
import { Deque } from '../../src/deque.ts'
import type { ConsumeOptions, Consumer, Delivery } from '../../src/queue.ts'
import type { PubSubDelivery } from './delivery.ts'
import type { PubSubQueue } from './queue.ts'
import { DelayRelay } from './relay.ts'

/**
 * Streaming pull on the queue's subscription, with flow control sized from the prefetch and lease
 * extension by the client; plus the queue's delay relay.
 *
 * Leases: the client keeps every message it holds leased (buffered ones too), at least leaseMs ahead,
 * for up to 2 × maxLeaseMs from receipt. take() hands out nothing that waited more than maxLeaseMs
 * (it is released instead), and each delivery's own extension budget (maxLeaseMs) starts at take(), so
 * a job that waited and then runs to its timeout keeps its lease.
 *
 * A start that fails (subscription missing, emulator not up yet) is retried with backoff; `consuming`
 * says whether the stream is open. close() closes the stream at once and hands back everything the
 * client holds that no handler took: Conveyor's buffer and the client's own flow-control backlog.
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
  #consuming = false
  readonly #leaseMs: number
  readonly #maxLeaseMs: number
  readonly #stopWaiting = new AbortController()
  readonly started: Promise<void>

  constructor(backend: PubSubQueue, queue: string, options: ConsumeOptions) {
    this.#backend = backend
    this.queue = queue
    this.#options = options
    this.#leaseMs = Math.max(10_000, options.leaseMs ?? backend.options.leaseMs)
    this.#maxLeaseMs = Math.max(this.#leaseMs, options.maxLeaseMs ?? this.#leaseMs)
    this.started = this.#start()
  }

  get consuming(): boolean {
    return this.#consuming && !this.#closed
  }

  /** Opens the stream once the queue's resources answer, trying again with backoff (0.25 s doubling to 5 s). */
  async #start(): Promise<void> {
    for (let failures = 0; !this.#closed; failures++) {
      try {
        const names = await this.#backend.names(this.queue)
        if (this.#closed) return
        this.#subscriptionName = names.subscription
        this.#open(names.subscription)
        this.#relay = new DelayRelay(this.#backend, names, this.#backend.options.relayHoldMs)
        if (failures > 0) this.#backend.log.info({ queue: this.queue }, 'Pub/Sub consumer started')
        return
      } catch (err) {
        const waitMs = Math.min(5_000, 250 * 2 ** failures)
        this.#backend.log.warn(
          { err, queue: this.queue, failures: failures + 1, retryInMs: waitMs },
          'cannot start Pub/Sub consumer yet; retrying',
        )
        this.#backend.forget(this.queue)
        await sleep(waitMs, undefined, { signal: this.#stopWaiting.signal }).catch(() => undefined)
      }
    }
  }

  #open(name: string): void {
    const subscription = this.#backend.client.subscription(name, {
      // Flow control counts every unacked message: the prefetch buffer plus the jobs running.
      flowControl: { maxMessages: this.#options.prefetch * 2, allowExcessMessages: false },
      // Never less than our lease ahead; buffered wait (≤ maxLeaseMs) plus a run's budget (maxLeaseMs).
      minAckDeadline: Duration.from({ milliseconds: this.#leaseMs }),
      maxExtensionTime: Duration.from({ milliseconds: 2 * this.#maxLeaseMs }),
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
      this.#consuming = false
      void this.#reopen(subscription)
    })
    this.#subscription = subscription
    this.#consuming = true
  }

  async #reopen(old: Subscription): Promise<void> {
    if (this.#reopening) return
    this.#reopening = true
    await old.close().catch(() => undefined)
    for (let failures = 1; !this.#closed; failures++) {
      await sleep(Math.min(5_000, 250 * 2 ** failures), undefined, {
        signal: this.#stopWaiting.signal,
      }).catch(() => undefined)
      if (this.#closed) break
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
    if (this.#closed) {
      this.#handBackRaw(message) // the stream is closing: straight back, not left to time out
      return
    }
    const delivery = await this.#backend.admit(this.queue, message, this.#leaseMs)
    if (!delivery) return
    if (this.#closed) {
      this.#handBackRaw(message)
      return
    }
    delivery.consumer = this
    this.#buffer.push(delivery)
    this.#options.onReadable()
  }

  take(max: number): Delivery[] {
    const out: Delivery[] = []
    if (this.#closed) return out
    const now = this.#backend.clock.now()
    while (out.length < max) {
      const d = this.#buffer.shift()
      if (!d) break
      if (now - d.receivedAt > this.#maxLeaseMs) {
        // Waited so long that the client's extension budget could not cover a full run: hand it back.
        void d.release().catch(() => undefined)
        continue
      }
      d.leaseExpiresAt = now + this.#leaseMs // the client has kept it leased while it waited
      d.budgetEndsAt = now + this.#maxLeaseMs
      this.#outstanding.add(d)
      out.push(d)
    }
    return out
  }

  /** Nacks a message no delivery was made for: through the stream while open, else by unary RPC. */
  #handBackRaw(message: Message): void {
    if (!this.#streamClosed) message.nack()
    else void this.#backend.release(this.#subscriptionName, [message.ackId]).catch(() => undefined)
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
    this.#stopWaiting.abort()
    await this.started
    const untaken: PubSubDelivery[] = []
    for (let d = this.#buffer.shift(); d; d = this.#buffer.shift()) untaken.push(d)
    await Promise.allSettled([...this.#settling])
    this.#streamClosed = true
    this.#consuming = false
    // Messages the client received but held back (flow control) never reach us: nack them too, or they
    // would sit until their ack deadline ran out.
    const backlog = this.#subscription ? clientBacklog(this.#subscription) : []
    // Acks and nacks the client queued go out before the stream closes: closing without a nack timeout
    // would leave them to a batch timer the closing client may never run (then they come back later).
    if (this.#subscription)
      await flushClientQueues(this.#subscription, this.#backend.options.requestTimeoutMs)
    await this.#subscription?.close().catch((err: unknown) => {
      this.#backend.log.warn({ err, queue: this.queue }, 'error closing Pub/Sub subscription')
    })
    await Promise.all([
      ...untaken.map((d) => d.release().catch(() => undefined)),
      this.#backend
        .release(
          this.#subscriptionName,
          backlog.map((m) => m.ackId),
        )
        .catch(() => undefined),
    ])
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

/**
 * Messages the client library holds but has not emitted (its flow-control backlog). It drops them
 * silently when closed without a nack timeout, so we read them first. The field is private to the client
 * (`@google-cloud/pubsub` 6.x); if its shape changes this returns nothing and they come back after their
 * ack deadline, as before.
 */
function clientBacklog(subscription: Subscription): Message[] {
  const inventory = (subscription as unknown as { _subscriber?: { _inventory?: { _pending?: unknown } } })
    ._subscriber?._inventory
  const pending = inventory?._pending
  return Array.isArray(pending) ? [...(pending as Message[])] : []
}

/** Sends what the client's ack and modAck queues hold and waits for it (private fields, as above). */
async function flushClientQueues(subscription: Subscription, timeoutMs: number): Promise<void> {
  type Queue = { flush?: () => Promise<void>; onDrain?: () => Promise<void>; numInFlightRequests?: number }
  const subscriber = (subscription as unknown as { _subscriber?: { _acks?: Queue; _modAcks?: Queue } })
    ._subscriber
  const queues = [subscriber?._acks, subscriber?._modAcks].filter((q): q is Queue => !!q?.flush)
  const drained = Promise.allSettled(
    queues.map(async (q) => {
      await q.flush!()
      if ((q.numInFlightRequests ?? 0) > 0 && q.onDrain) await q.onDrain()
    }),
  )
  await Promise.race([drained, sleep(timeoutMs)])
}
