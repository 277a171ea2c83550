import type { DeadLetterReason, Envelope } from '../../src/envelope.ts'
import { type ConveyorError, LeaseLostError } from '../../src/errors.ts'
import type { Delivery } from '../../src/queue.ts'
import { Settlement } from '../../src/settlement.ts'
import type { PubSubQueue } from './queue.ts'
import type { ReceivedMessage } from './unary.ts'

/**
 * One pulled message, leased until its ack deadline: `leaseExpiresAt` is estimated from when the pull
 * answered. Extending it is a ModifyAckDeadline; settling it an Acknowledge or a ModifyAckDeadline 0
 * (batched per subscription by the queue). The emulator, like the service without exactly-once delivery, accepts an
 * ack id whose deadline passed, so a lost lease is known from the clock, not from an error.
 */
export class PubSubDelivery implements Delivery {
  readonly id: string
  readonly queue: string
  readonly attempt: number
  readonly envelope: Envelope | undefined
  readonly malformed: ConveyorError | undefined
  readonly received: ReceivedMessage
  readonly ackId: string
  /** The subscription it was pulled from; settlements and extensions go there. */
  readonly subscription: string
  readonly claimKey: string | undefined
  leaseExpiresAt: number
  readonly #backend: PubSubQueue
  readonly #settlement: Settlement

  constructor(
    backend: PubSubQueue,
    queue: string,
    subscription: string,
    received: ReceivedMessage,
    decoded: { envelope?: Envelope; malformed?: ConveyorError; claimKey?: string },
    leaseExpiresAt: number,
  ) {
    this.#backend = backend
    this.queue = queue
    this.subscription = subscription
    this.received = received
    this.ackId = received.ackId!
    this.envelope = decoded.envelope
    this.malformed = decoded.malformed
    this.claimKey = decoded.claimKey
    this.leaseExpiresAt = leaseExpiresAt
    // deliveryAttempt is set because every Conveyor subscription has a dead-letter policy.
    const receives = received.deliveryAttempt || 1
    this.id = decoded.envelope?.id ?? decoded.malformed?.messageId ?? received.message!.messageId!
    this.#settlement = new Settlement(this.id)
    this.attempt = decoded.envelope ? decoded.envelope.attempt + receives - 1 : receives
  }

  ack(): Promise<void> {
    return this.#settlement.run(() => this.#backend.acknowledgeDelivery(this))
  }

  retry(delayMs: number): Promise<void> {
    return this.#settlement.run(() => this.#backend.retryDelivery(this, delayMs))
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.#settlement.run(() => this.#backend.deadLetterDelivery(this, reason))
  }

  release(): Promise<void> {
    return this.#settlement.run(() => this.#backend.releaseDelivery(this))
  }

  async extendLease(ms: number): Promise<void> {
    this.#settlement.assertOpen()
    const startedAt = this.#backend.clock.now()
    if (startedAt >= this.leaseExpiresAt) throw new LeaseLostError(this.id, 'its ack deadline ran out')
    await this.#backend.extendDelivery(this, ms)
    // The service accepts an extension that arrives after the deadline without a word, when the message
    // may be someone else's already: one that returns after the old lease ran out does not count.
    if (this.#backend.clock.now() >= this.leaseExpiresAt)
      throw new LeaseLostError(this.id, 'its ack deadline ran out while it was being extended')
    // Counted from before the call: the service's deadline starts when it answers, a little later.
    this.leaseExpiresAt = startedAt + Math.min(ms, 600_000)
  }
}
