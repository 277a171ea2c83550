import { v7 as uuidv7 } from 'uuid'
import { type Clock, systemClock } from '../../src/clock.ts'
import { DeadlineQueue } from '../../src/deadline-queue.ts'
import { type DeadLetterReason, type Envelope, encodeEnvelope, freshCopy } from '../../src/envelope.ts'
import { LeaseLostError, QueueClosedError, QueueFullError } from '../../src/errors.ts'
import type {
  ConsumeOptions,
  Consumer,
  DeadLetter,
  Delivery,
  Queue,
  QueueStats,
  RawSender,
  RedriveOptions,
  SendOptions,
} from '../../src/queue.ts'
import { MemoryConsumer } from './consumer.ts'
import { type MemoryOptions, memoryOptions } from './options.ts'
import { type Lease, QueueState, type StoredMessage, type TimerItem } from './state.ts'

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
  readonly #timers: DeadlineQueue<TimerItem>
  readonly #consumers = new Set<MemoryConsumer>()
  #closed = false

  constructor(options: Partial<MemoryOptions> = {}, runtime: MemoryRuntime = {}) {
    this.options = memoryOptions.parse('memory queue options', options)
    this.#clock = runtime.clock ?? systemClock
    this.#timers = new DeadlineQueue(this.#clock, (item) => this.#onTimer(item))
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
    for (const env of envelopes) this.#enqueue(state, env.id, encodeEnvelope(env), options.delayMs ?? 0)
  }

  async sendRaw(queue: string, body: string): Promise<void> {
    this.#enqueue(this.#state(queue), uuidv7(), body, 0)
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
      inFlight: s.inFlight.size,
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
    this.#timers.clear()
    for (const consumer of this.#consumers) await consumer.close()
    this.#consumers.clear()
  }

  // Called by MemoryConsumer and MemoryDelivery.

  lease(state: QueueState, message: StoredMessage, leaseMs: number): Lease {
    const lease = { message, queue: state, current: true } as Lease
    lease.expiry = this.#timers.schedule(this.#clock.now() + leaseMs, { kind: 'lease', lease })
    state.inFlight.add(lease)
    return lease
  }

  ackLease(lease: Lease): Promise<void> {
    if (!this.#release(lease)) return Promise.reject(new LeaseLostError(lease.message.id))
    return Promise.resolve()
  }

  async retryLease(lease: Lease, delayMs: number): Promise<void> {
    if (!this.#release(lease)) throw new LeaseLostError(lease.message.id)
    if (delayMs > 0) this.#delay(lease.queue, lease.message, delayMs)
    else this.#makeReady(lease.queue, lease.message, true)
  }

  async deadLetterLease(lease: Lease, reason: DeadLetterReason, delivery: Delivery): Promise<void> {
    if (!this.#release(lease)) throw new LeaseLostError(lease.message.id)
    lease.queue.dead.push({
      id: delivery.id,
      envelope: delivery.envelope,
      body: lease.message.body,
      info: { ...reason, queue: lease.queue.name, attempts: delivery.attempt, at: this.#clock.now() },
    })
  }

  async extendLease(lease: Lease, ms: number): Promise<void> {
    if (!lease.current) throw new LeaseLostError(lease.message.id)
    this.#timers.cancel(lease.expiry)
    lease.expiry = this.#timers.schedule(this.#clock.now() + ms, { kind: 'lease', lease })
  }

  #release(lease: Lease): boolean {
    if (!lease.current) return false
    lease.current = false
    lease.queue.inFlight.delete(lease)
    this.#timers.cancel(lease.expiry)
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

  #enqueue(state: QueueState, id: string, body: string, delayMs: number): void {
    if (state.size >= this.options.capacity) {
      throw new QueueFullError(state.name, this.options.capacity, { messageId: id })
    }
    const message: StoredMessage = { id, body, receives: 0 }
    if (delayMs > 0) this.#delay(state, message, delayMs)
    else this.#makeReady(state, message, false)
  }

  #delay(state: QueueState, message: StoredMessage, delayMs: number): void {
    state.delayed++
    this.#timers.schedule(this.#clock.now() + delayMs, { kind: 'due', queue: state, message })
  }

  #makeReady(state: QueueState, message: StoredMessage, first: boolean): void {
    if (first) state.ready.unshift(message)
    else state.ready.push(message)
    state.notify()
  }

  #onTimer(item: TimerItem): void {
    if (item.kind === 'due') {
      item.queue.delayed--
      this.#makeReady(item.queue, item.message, false)
    } else if (item.lease.current) {
      item.lease.current = false
      item.lease.queue.inFlight.delete(item.lease)
      this.#makeReady(item.lease.queue, item.lease.message, true)
    }
  }
}
