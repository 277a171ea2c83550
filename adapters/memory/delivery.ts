import type { DeadLetterReason, Envelope } from '../../src/envelope.ts'
import { AlreadySettledError, type MalformedMessageError } from '../../src/errors.ts'
import type { Delivery } from '../../src/queue.ts'
import type { MemoryQueue } from './queue.ts'
import type { Lease } from './state.ts'

export class MemoryDelivery implements Delivery {
  readonly id: string
  readonly queue: string
  readonly attempt: number
  readonly envelope: Envelope | undefined
  readonly malformed: MalformedMessageError | undefined
  readonly #backend: MemoryQueue
  readonly #lease: Lease
  #settled = false

  constructor(
    backend: MemoryQueue,
    lease: Lease,
    envelope: Envelope | undefined,
    malformed?: MalformedMessageError,
  ) {
    this.#backend = backend
    this.#lease = lease
    this.queue = lease.queue.name
    this.envelope = envelope
    this.malformed = malformed
    this.id = envelope?.id ?? lease.message.id
    this.attempt = envelope ? envelope.attempt + lease.message.receives - 1 : lease.message.receives
  }

  ack(): Promise<void> {
    return this.#settle() ?? this.#backend.ackLease(this.#lease)
  }

  retry(delayMs: number): Promise<void> {
    return this.#settle() ?? this.#backend.retryLease(this.#lease, delayMs)
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.#settle() ?? this.#backend.deadLetterLease(this.#lease, reason, this)
  }

  extendLease(ms: number): Promise<void> {
    if (this.#settled) return Promise.reject(new AlreadySettledError(this.id))
    return this.#backend.extendLease(this.#lease, ms)
  }

  /** Marks the delivery settled; returns a rejection if it already was. */
  #settle(): Promise<never> | undefined {
    if (this.#settled) return Promise.reject(new AlreadySettledError(this.id))
    this.#settled = true
    return undefined
  }
}
