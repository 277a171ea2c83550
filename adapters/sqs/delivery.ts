import type { Message } from '@aws-sdk/client-sqs'
import type { DeadLetterReason, Envelope } from '../../src/envelope.ts'
import { AlreadySettledError, type MalformedMessageError } from '../../src/errors.ts'
import type { Delivery } from '../../src/queue.ts'
import { SQS_MAX_VISIBILITY_SECONDS } from './options.ts'
import type { SqsQueue } from './queue.ts'
import type { QueueUrls } from './resources.ts'

/** One received SQS message. Settling maps to DeleteMessage(Batch), ChangeMessageVisibility or a DLQ send. */
export class SqsDelivery implements Delivery {
  readonly id: string
  readonly queue: string
  readonly attempt: number
  readonly envelope: Envelope | undefined
  readonly malformed: MalformedMessageError | undefined
  readonly message: Message
  readonly urls: QueueUrls
  /** Object-store key of a claim-checked body. */
  readonly claimKey: string | undefined
  readonly #backend: SqsQueue
  #settled = false

  constructor(
    backend: SqsQueue,
    queue: string,
    urls: QueueUrls,
    message: Message,
    decoded: { envelope?: Envelope; malformed?: MalformedMessageError; claimKey?: string },
  ) {
    this.#backend = backend
    this.queue = queue
    this.urls = urls
    this.message = message
    this.envelope = decoded.envelope
    this.malformed = decoded.malformed
    this.claimKey = decoded.claimKey
    const receives = Number(message.Attributes?.ApproximateReceiveCount ?? '1')
    this.id = decoded.envelope?.id ?? message.MessageId!
    this.attempt = decoded.envelope ? decoded.envelope.attempt + receives - 1 : receives
  }

  ack(): Promise<void> {
    return this.#settle() ?? this.#backend.acknowledge(this)
  }

  retry(delayMs: number): Promise<void> {
    const early = this.#settle()
    if (early) return early
    const seconds = Math.ceil(Math.max(0, delayMs) / 1000)
    if (seconds <= SQS_MAX_VISIBILITY_SECONDS) return this.#backend.changeVisibility(this, seconds)
    // Past SQS's 12-hour visibility cap: a fresh copy that carries the next attempt number and waits.
    return this.#backend.resendLater(this, delayMs)
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.#settle() ?? this.#backend.moveToDeadLetters(this, reason)
  }

  extendLease(ms: number): Promise<void> {
    if (this.#settled) return Promise.reject(new AlreadySettledError(this.id))
    return this.#backend.changeVisibility(this, Math.min(SQS_MAX_VISIBILITY_SECONDS, Math.ceil(ms / 1000)))
  }

  #settle(): Promise<never> | undefined {
    if (this.#settled) return Promise.reject(new AlreadySettledError(this.id))
    this.#settled = true
    return undefined
  }
}
