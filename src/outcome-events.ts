import type { Delivery } from './queue.ts'
import type { JobOutcomeEvent } from './worker-options.ts'

/**
 * The worker's outcome events: one per attempt (success, retry, dead letter, lease lost, …). Cheap when
 * nobody listens: no event object is made.
 */
export class OutcomeEvents {
  readonly #listeners: ((event: JobOutcomeEvent) => void)[] = []

  /** Subscribes; returns the unsubscribe function. */
  on(listener: (event: JobOutcomeEvent) => void): () => void {
    this.#listeners.push(listener)
    return () => {
      const i = this.#listeners.indexOf(listener)
      if (i >= 0) this.#listeners.splice(i, 1)
    }
  }

  /** Tells every listener now. */
  emit(
    delivery: Delivery,
    type: string | undefined,
    outcome: JobOutcomeEvent['outcome'],
    extra?: Partial<JobOutcomeEvent>,
  ): void {
    this.announce(delivery, type, outcome, extra)?.()
  }

  /**
   * The event, to tell listeners when called (the ledger calls it once it has recorded the outcome, or
   * given up on the write); undefined when nobody listens.
   */
  announce(
    delivery: Delivery,
    type: string | undefined,
    outcome: JobOutcomeEvent['outcome'],
    extra?: Partial<JobOutcomeEvent>,
  ): (() => void) | undefined {
    if (this.#listeners.length === 0) return undefined
    const event: JobOutcomeEvent = {
      id: delivery.id,
      type,
      queue: delivery.queue,
      attempt: delivery.attempt,
      outcome,
      ...extra,
    }
    const listeners = this.#listeners
    return () => {
      for (const listener of listeners) listener(event)
    }
  }
}
