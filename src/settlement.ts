import { AlreadySettledError, LeaseLostError } from './errors.ts'

/**
 * A delivery's settlement state, kept as the Delivery contract (src/queue.ts) says: one settlement at a
 * time; a second one rejects with AlreadySettledError, except after a settlement that failed without
 * losing the lease (an outage), which may be tried again. Adapters' deliveries hold one each.
 */
export class Settlement {
  readonly #id: string
  #state: 'open' | 'settling' | 'settled' = 'open'

  constructor(id: string) {
    this.#id = id
  }

  /** Throws AlreadySettledError unless nothing has settled (or is settling) the delivery. */
  assertOpen(): void {
    if (this.#state !== 'open') throw new AlreadySettledError(this.#id)
  }

  /** Runs one settlement; a LeaseLostError settles it for good, any other failure leaves it open. */
  async run(settle: () => Promise<void>): Promise<void> {
    this.assertOpen()
    this.#state = 'settling'
    try {
      await settle()
      this.#state = 'settled'
    } catch (err) {
      this.#state = err instanceof LeaseLostError ? 'settled' : 'open'
      throw err
    }
  }
}
