import type { Message } from '@google-cloud/pubsub'
import type { DeadLetterReason, Envelope } from '../../src/envelope.ts'
import { AlreadySettledError, type ConveyorError, LeaseLostError } from '../../src/errors.ts'
import type { Delivery } from '../../src/queue.ts'
import type { PubSubConsumer } from './consumer.ts'
import type { PubSubQueue } from './queue.ts'

/**
 * One message from the streaming pull. While the stream is open the client keeps its lease (at least
 * leaseMs ahead); after the consumer closed, extendLease sends ModifyAckDeadline itself. The extension
 * budget (maxLeaseMs) counts from take(), when the handler starts, not from receipt.
 */
export class PubSubDelivery implements Delivery {
  readonly id: string
  readonly queue: string
  readonly attempt: number
  readonly envelope: Envelope | undefined
  readonly malformed: ConveyorError | undefined
  readonly message: Message
  readonly claimKey: string | undefined
  /** When it arrived (adapter clock). */
  readonly receivedAt: number
  leaseExpiresAt: number
  /** The latest the lease may be extended to (set at take: now + maxLeaseMs). */
  budgetEndsAt = Number.POSITIVE_INFINITY
  /** The consumer that received it (set when buffered). */
  consumer: PubSubConsumer | undefined
  readonly #backend: PubSubQueue
  #state: 'open' | 'settling' | 'settled' = 'open'

  constructor(
    backend: PubSubQueue,
    queue: string,
    message: Message,
    decoded: { envelope?: Envelope; malformed?: ConveyorError; claimKey?: string },
    receivedAt: number,
    leaseMs: number,
  ) {
    this.#backend = backend
    this.queue = queue
    this.message = message
    this.envelope = decoded.envelope
    this.malformed = decoded.malformed
    this.claimKey = decoded.claimKey
    this.receivedAt = receivedAt
    this.leaseExpiresAt = receivedAt + leaseMs
    // deliveryAttempt is set because every Conveyor subscription has a dead-letter policy.
    const receives = message.deliveryAttempt || 1
    this.id = decoded.envelope?.id ?? decoded.malformed?.messageId ?? message.id
    this.attempt = decoded.envelope ? decoded.envelope.attempt + receives - 1 : receives
  }

  ack(): Promise<void> {
    return this.#settle(() => this.#backend.acknowledgeDelivery(this))
  }

  retry(delayMs: number): Promise<void> {
    return this.#settle(() => this.#backend.retryDelivery(this, delayMs))
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.#settle(() => this.#backend.deadLetterDelivery(this, reason))
  }

  release(): Promise<void> {
    return this.#settle(() => this.#backend.releaseDelivery(this))
  }

  async extendLease(ms: number): Promise<void> {
    if (this.#state !== 'open') throw new AlreadySettledError(this.id)
    const now = this.#backend.clock.now()
    if (now >= this.budgetEndsAt)
      throw new LeaseLostError(this.id, 'its extension budget (maxLeaseMs) is spent')
    if (now >= this.leaseExpiresAt) throw new LeaseLostError(this.id, 'its ack deadline ran out')
    const until = Math.min(now + ms, this.budgetEndsAt)
    await this.#backend.extendDelivery(this, until - now)
    this.leaseExpiresAt = until
  }

  /** One settlement at a time; one that failed without losing the lease may be tried again. */
  async #settle(run: () => Promise<void>): Promise<void> {
    if (this.#state !== 'open') throw new AlreadySettledError(this.id)
    this.#state = 'settling'
    try {
      await run()
      this.#state = 'settled'
    } catch (err) {
      this.#state = err instanceof LeaseLostError ? 'settled' : 'open'
      throw err
    }
  }
}
