import type { Message } from '@aws-sdk/client-sqs'
import type { DeadLetterReason, Envelope } from '../../src/envelope.ts'
import type { ConveyorError } from '../../src/errors.ts'
import type { Delivery } from '../../src/queue.ts'
import { Settlement } from '../../src/settlement.ts'
import { SQS_MAX_VISIBILITY_SECONDS } from './options.ts'
import type { SqsQueue } from './queue.ts'
import type { QueueUrls } from './resources.ts'

/**
 * One received SQS message. Settling maps to DeleteMessage(Batch), ChangeMessageVisibility or a DLQ send.
 * `leaseExpiresAt` counts from before the receive request left, and moves on each successful extension:
 * SQS (and fauxqs) accept a delete with a stale receipt handle silently, so a settlement after it is
 * reported as LeaseLostError, not success.
 */
export class SqsDelivery implements Delivery {
  readonly id: string
  readonly queue: string
  readonly attempt: number
  readonly envelope: Envelope | undefined
  readonly malformed: ConveyorError | undefined
  readonly message: Message
  leaseExpiresAt: number
  readonly urls: QueueUrls
  /** Object-store key of a claim-checked body. */
  readonly claimKey: string | undefined
  readonly #backend: SqsQueue
  readonly #settlement: Settlement

  constructor(
    backend: SqsQueue,
    queue: string,
    urls: QueueUrls,
    message: Message,
    decoded: { envelope?: Envelope; malformed?: ConveyorError; claimKey?: string },
    leaseExpiresAt: number,
  ) {
    this.leaseExpiresAt = leaseExpiresAt
    this.#backend = backend
    this.queue = queue
    this.urls = urls
    this.message = message
    this.envelope = decoded.envelope
    this.malformed = decoded.malformed
    this.claimKey = decoded.claimKey
    const receives = Number(message.Attributes?.ApproximateReceiveCount ?? '1')
    this.id = decoded.envelope?.id ?? decoded.malformed?.messageId ?? message.MessageId!
    this.#settlement = new Settlement(this.id)
    this.attempt = decoded.envelope ? decoded.envelope.attempt + receives - 1 : receives
  }

  ack(): Promise<void> {
    return this.#settlement.run(() => this.#backend.acknowledge(this))
  }

  retry(delayMs: number): Promise<void> {
    const seconds = Math.ceil(Math.max(0, delayMs) / 1000)
    if (seconds <= SQS_MAX_VISIBILITY_SECONDS)
      return this.#settlement.run(() => this.#backend.changeVisibility(this, seconds))
    // Past SQS's 12-hour visibility cap: a fresh copy that carries the next attempt number and waits.
    return this.#settlement.run(() => this.#backend.resendLater(this, delayMs, this.attempt + 1))
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.#settlement.run(() => this.#backend.moveToDeadLetters(this, reason))
  }

  release(): Promise<void> {
    return this.#settlement.run(() => this.#backend.release(this))
  }

  async extendLease(ms: number): Promise<void> {
    this.#settlement.assertOpen()
    await this.#backend.changeVisibility(this, Math.min(SQS_MAX_VISIBILITY_SECONDS, Math.ceil(ms / 1000)))
  }
}
