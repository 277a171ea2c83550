import { decodeEnvelope } from '../../src/envelope.ts'
import { MalformedMessageError } from '../../src/errors.ts'
import type { Consumer, Delivery } from '../../src/queue.ts'
import { MemoryDelivery } from './delivery.ts'
import type { MemoryQueue } from './queue.ts'
import type { QueueState } from './state.ts'

/** Takes straight from the queue's ready list: nothing is prefetched, so nothing sits leased unseen. */
export class MemoryConsumer implements Consumer {
  readonly queue: string
  readonly #backend: MemoryQueue
  readonly #state: QueueState
  readonly #leaseMs: number
  readonly #onReadable: () => void
  #closed = false

  constructor(backend: MemoryQueue, state: QueueState, leaseMs: number, onReadable: () => void) {
    this.#backend = backend
    this.#state = state
    this.queue = state.name
    this.#leaseMs = leaseMs
    this.#onReadable = onReadable
    state.readers.push(onReadable)
  }

  get consuming(): boolean {
    return !this.#closed
  }

  take(max: number): Delivery[] {
    const out: Delivery[] = []
    if (this.#closed) return out
    const expiresAt = this.#backend.now() + this.#leaseMs
    while (out.length < max) {
      const message = this.#state.ready.shift()
      if (!message) break
      message.receives++
      let delivery: MemoryDelivery
      try {
        delivery = new MemoryDelivery(this.#backend, message, decodeEnvelope(message.body, message.id))
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) throw err
        delivery = new MemoryDelivery(this.#backend, message, undefined, err)
      }
      this.#backend.lease(delivery, expiresAt)
      out.push(delivery)
    }
    return out
  }

  close(): Promise<void> {
    this.#closed = true
    this.#state.readers = this.#state.readers.filter((r) => r !== this.#onReadable)
    return Promise.resolve()
  }
}
