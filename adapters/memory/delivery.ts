import type { Deadline } from '../../src/deadline-queue.ts'
import type { DeadLetterReason, Envelope } from '../../src/envelope.ts'
import { AlreadySettledError, type MalformedMessageError } from '../../src/errors.ts'
import type { Delivery } from '../../src/queue.ts'
import type { MemoryQueue } from './queue.ts'
import type { StoredMessage } from './state.ts'

/** A handed-out message and its lease. `leased` turns false when settled or when the lease runs out. */
export class MemoryDelivery implements Delivery {
  readonly id: string
  readonly queue: string
  readonly attempt: number
  readonly envelope: Envelope | undefined
  readonly malformed: MalformedMessageError | undefined
  readonly message: StoredMessage
  leased = true
  expiry: Deadline<MemoryDelivery> | undefined
  leaseExpiresAt = 0
  readonly #backend: MemoryQueue
  #settled = false

  constructor(
    backend: MemoryQueue,
    message: StoredMessage,
    envelope: Envelope | undefined,
    malformed?: MalformedMessageError,
  ) {
    this.#backend = backend
    this.message = message
    this.queue = message.queue.name
    this.envelope = envelope
    this.malformed = malformed
    this.id = envelope?.id ?? message.id
    this.attempt = envelope ? envelope.attempt + message.receives - 1 : message.receives
  }

  ack(): Promise<void> {
    return this.#settle() ?? this.#backend.ackLease(this)
  }

  retry(delayMs: number): Promise<void> {
    return this.#settle() ?? this.#backend.retryLease(this, delayMs)
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.#settle() ?? this.#backend.deadLetterLease(this, reason)
  }

  release(): Promise<void> {
    return this.#settle() ?? this.#backend.releaseLease(this)
  }

  extendLease(ms: number): Promise<void> {
    if (this.#settled) return Promise.reject(new AlreadySettledError(this.id))
    return this.#backend.extendLease(this, ms)
  }

  /** Marks the delivery settled; returns a rejection if it already was. */
  #settle(): Promise<never> | undefined {
    if (this.#settled) return Promise.reject(new AlreadySettledError(this.id))
    this.#settled = true
    return undefined
  }
}
