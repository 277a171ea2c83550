import type { Message } from '@google-cloud/pubsub'
import type { DeadLetterReason, Envelope } from '../../src/envelope.ts'
import { AlreadySettledError, type MalformedMessageError } from '../../src/errors.ts'
import type { Delivery } from '../../src/queue.ts'
import type { PubSubConsumer } from './consumer.ts'
import type { PubSubQueue } from './queue.ts'

/** One message from the streaming pull. The client keeps its lease while it runs (up to maxLeaseMs). */
export class PubSubDelivery implements Delivery {
  readonly id: string
  readonly queue: string
  readonly attempt: number
  readonly envelope: Envelope | undefined
  readonly malformed: MalformedMessageError | undefined
  readonly message: Message
  readonly claimKey: string | undefined
  readonly #backend: PubSubQueue
  #settled = false

  constructor(
    backend: PubSubQueue,
    queue: string,
    message: Message,
    decoded: { envelope?: Envelope; malformed?: MalformedMessageError; claimKey?: string },
  ) {
    this.#backend = backend
    this.queue = queue
    this.message = message
    this.envelope = decoded.envelope
    this.malformed = decoded.malformed
    this.claimKey = decoded.claimKey
    // deliveryAttempt is set because every Conveyor subscription has a dead-letter policy.
    const receives = message.deliveryAttempt || 1
    this.id = decoded.envelope?.id ?? message.id
    this.attempt = decoded.envelope ? decoded.envelope.attempt + receives - 1 : receives
  }

  ack(): Promise<void> {
    return this.#settle() ?? this.#backend.acknowledgeDelivery(this)
  }

  retry(delayMs: number): Promise<void> {
    return this.#settle() ?? this.#backend.retryDelivery(this, delayMs)
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.#settle() ?? this.#backend.deadLetterDelivery(this, reason)
  }

  /** The client library extends the ack deadline by itself until maxLeaseMs; nothing to do here. */
  extendLease(): Promise<void> {
    if (this.#settled) return Promise.reject(new AlreadySettledError(this.id))
    return Promise.resolve()
  }

  /** The consumer that received it (set when buffered). */
  consumer: PubSubConsumer | undefined

  #settle(): Promise<never> | undefined {
    if (this.#settled) return Promise.reject(new AlreadySettledError(this.id))
    this.#settled = true
    return undefined
  }
}
