import { type Clock, systemClock } from '../../src/clock.ts'
import { DeadlineQueue } from '../../src/deadline-queue.ts'
import { type DeadLetterReason, type Envelope, encodeEnvelope, freshCopy } from '../../src/envelope.ts'
import { LeaseLostError, QueueClosedError, QueueFullError } from '../../src/errors.ts'
import { newId } from '../../src/ids.ts'
import type {
  ConsumeOptions,
  Consumer,
  DeadLetter,
  Queue,
  QueueStats,
  RawSender,
  RedriveOptions,
  SendOptions,
} from '../../src/queue.ts'
import { MemoryConsumer } from './consumer.ts'
import type { MemoryDelivery } from './delivery.ts'
import { type MemoryOptions, memoryOptions } from './options.ts'
import { QueueState, type StoredMessage } from './state.ts'

/** Acks complete synchronously; one shared resolved promise saves an allocation per message. */
const SETTLED = Promise.resolve()

export interface MemoryRuntime {
  /** Defaults to the system clock; tests pass a ManualClock and move time. */
  clock?: Clock
}

/**
 * An in-process backend with real queue semantics: leases that expire and redeliver, delays and
 * retry-after on one timer structure, a dead-letter queue per queue, bounded capacity. Non-durable:
 * everything is gone when the process exits.
 */
export class MemoryQueue implements Queue, RawSender {
  readonly driver = 'memory'
  readonly options: MemoryOptions
  readonly #clock: Clock
  readonly #queues = new Map<string, QueueState>()
  /** Delays and retry-afters: when each message becomes ready. */
  readonly #due: DeadlineQueue<StoredMessage>
  /** When each lease runs out. */
  readonly #leases: DeadlineQueue<MemoryDelivery>
  readonly #consumers = new Set<MemoryConsumer>()
  #closed = false

  constructor(options: Partial<MemoryOptions> = {}, runtime: MemoryRuntime = {}) {
    this.options = memoryOptions.parse('memory queue options', options)
    this.#clock = runtime.clock ?? systemClock
    this.#due = new DeadlineQueue(this.#clock, (message) => {
      message.queue.delayed--
      this.#makeReady(message, false)
    })
    this.#leases = new DeadlineQueue(this.#clock, (delivery) => {
      if (!delivery.leased) return
      delivery.leased = false
      delivery.message.queue.inFlight--
      this.#makeReady(delivery.message, true)
    })
  }

  send(queue: string, envelope: Envelope, options: SendOptions = {}): Promise<void> {
    try {
      this.#enqueue(this.#state(queue), envelope.id, encodeEnvelope(envelope), options.delayMs ?? 0)
      return Promise.resolve()
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async sendBatch(queue: string, envelopes: readonly Envelope[], options: SendOptions = {}): Promise<void> {
    const state = this.#state(queue)
    if (state.size + envelopes.length > this.options.capacity) {
      throw new QueueFullError(queue, this.options.capacity)
    }
    const delayMs = options.delayMs ?? 0
    for (const env of envelopes) this.#enqueue(state, env.id, encodeEnvelope(env), delayMs, false)
    if (delayMs <= 0 && envelopes.length > 0) state.notify()
  }

  async sendRaw(queue: string, body: string): Promise<void> {
    this.#enqueue(this.#state(queue), newId(), body, 0)
  }

  consume(queue: string, options: ConsumeOptions): Consumer {
    const consumer = new MemoryConsumer(
      this,
      this.#state(queue),
      options.leaseMs ?? this.options.leaseMs,
      options.onReadable,
    )
    this.#consumers.add(consumer)
    return consumer
  }

  async stats(queue: string): Promise<QueueStats> {
    const s = this.#state(queue)
    return {
      ready: s.ready.length,
      inFlight: s.inFlight,
      delayed: s.delayed,
      deadLettered: s.dead.length,
    }
  }

  async peekDeadLetters(queue: string, limit = 100): Promise<DeadLetter[]> {
    return this.#state(queue).dead.slice(0, limit)
  }

  async redrive(queue: string, options: RedriveOptions = {}): Promise<number> {
    const state = this.#state(queue)
    const wanted = options.ids ? new Set(options.ids) : undefined
    const room = this.options.capacity - state.size
    const limit = Math.min(options.limit ?? Number.POSITIVE_INFINITY, room)
    const keep: DeadLetter[] = []
    let moved = 0
    for (const dead of state.dead) {
      if (moved >= limit || (wanted && !wanted.has(dead.id))) {
        keep.push(dead)
        continue
      }
      const body = dead.envelope ? encodeEnvelope(freshCopy(dead.envelope)) : dead.body
      this.#enqueue(state, dead.id, body, 0)
      moved++
    }
    state.dead.splice(0, state.dead.length, ...keep)
    return moved
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#due.clear()
    this.#leases.clear()
    for (const consumer of this.#consumers) await consumer.close()
    this.#consumers.clear()
  }

  // Called by MemoryConsumer and MemoryDelivery.

  now(): number {
    return this.#clock.now()
  }

  lease(delivery: MemoryDelivery, expiresAt: number): void {
    delivery.leaseExpiresAt = expiresAt
    delivery.expiry = this.#leases.schedule(expiresAt, delivery)
    delivery.message.queue.inFlight++
  }

  ackLease(delivery: MemoryDelivery): Promise<void> {
    if (!this.#release(delivery)) return Promise.reject(new LeaseLostError(delivery.id))
    return SETTLED
  }

  async retryLease(delivery: MemoryDelivery, delayMs: number): Promise<void> {
    if (!this.#release(delivery)) throw new LeaseLostError(delivery.id)
    if (delayMs > 0) this.#delay(delivery.message, delayMs)
    else this.#makeReady(delivery.message, true)
  }

  async deadLetterLease(delivery: MemoryDelivery, reason: DeadLetterReason): Promise<void> {
    if (!this.#release(delivery)) throw new LeaseLostError(delivery.id)
    const { message } = delivery
    message.queue.dead.push({
      id: delivery.id,
      envelope: delivery.envelope,
      body: message.body,
      info: { ...reason, queue: message.queue.name, attempts: delivery.attempt, at: this.#clock.now() },
    })
  }

  /** Back to the front of the queue unrun: the receive it took is not counted. */
  async releaseLease(delivery: MemoryDelivery): Promise<void> {
    if (!this.#release(delivery)) throw new LeaseLostError(delivery.id)
    delivery.message.receives--
    this.#makeReady(delivery.message, true)
  }

  async extendLease(delivery: MemoryDelivery, ms: number): Promise<void> {
    if (!delivery.leased) throw new LeaseLostError(delivery.id, 'it ran out before the extension')
    if (delivery.expiry) this.#leases.cancel(delivery.expiry)
    delivery.leaseExpiresAt = this.#clock.now() + ms
    delivery.expiry = this.#leases.schedule(delivery.leaseExpiresAt, delivery)
  }

  #release(delivery: MemoryDelivery): boolean {
    if (!delivery.leased) return false
    delivery.leased = false
    delivery.message.queue.inFlight--
    if (delivery.expiry) this.#leases.cancel(delivery.expiry)
    return true
  }

  #state(queue: string): QueueState {
    if (this.#closed) throw new QueueClosedError('memory queue')
    let state = this.#queues.get(queue)
    if (!state) {
      state = new QueueState(queue)
      this.#queues.set(queue, state)
    }
    return state
  }

  /** `notify` false: the caller tells consumers once for a whole batch. */
  #enqueue(state: QueueState, id: string, body: string, delayMs: number, notify = true): void {
    if (state.size >= this.options.capacity) {
      throw new QueueFullError(state.name, this.options.capacity, { messageId: id })
    }
    const message: StoredMessage = { id, queue: state, body, receives: 0 }
    if (delayMs > 0) this.#delay(message, delayMs)
    else this.#makeReady(message, false, notify)
  }

  #delay(message: StoredMessage, delayMs: number): void {
    message.queue.delayed++
    this.#due.schedule(this.#clock.now() + delayMs, message)
  }

  /** `first`: a message coming back (lease ran out, handed back) goes to the front. */
  #makeReady(message: StoredMessage, first: boolean, notify = true): void {
    if (first) message.queue.ready.unshift(message)
    else message.queue.ready.push(message)
    if (notify) message.queue.notify()
  }
}
