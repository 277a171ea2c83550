import type { Clock } from './clock.ts'
import { AlreadySettledError, LeaseLostError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { Delivery } from './queue.ts'

/** Something holding a delivery's lease: a running job, or a duplicate waiting for its twin. */
export interface LeaseHolder {
  readonly delivery: Delivery
}

/**
 * Keeps the leases of the deliveries a worker holds, and fences the ones it cannot keep. One timer for
 * all (every leaseMs/6 while any is held), none while nothing is.
 *
 * - A lease with less than 2/3 of `leaseMs` left is extended by `leaseMs` (so a handler that starts on a
 *   lease aged in a buffer gets a full one at once: the lease clock counts from the start).
 * - An extension refused with LeaseLostError, or a lease with less than leaseMs/6 left and no successful
 *   extension (a backend that does not answer), is lost: `onLost` is called once, before the backend's
 *   lease runs out, and the holder is dropped. Other extension failures are retried on the next sweep.
 */
export class LeaseKeeper<H extends LeaseHolder> {
  readonly #clock: Clock
  readonly #leaseMs: number
  readonly #onLost: (holder: H, err: LeaseLostError) => void
  readonly #log: Logger
  readonly #held = new Set<H>()
  readonly #extending = new Set<H>()
  #timer: ReturnType<Clock['setTimer']> | undefined

  constructor(clock: Clock, leaseMs: number, log: Logger, onLost: (holder: H, err: LeaseLostError) => void) {
    this.#clock = clock
    this.#leaseMs = leaseMs
    this.#log = log
    this.#onLost = onLost
  }

  /** Remaining lease below which a delivery is not started (and a held one is declared lost). */
  get marginMs(): number {
    return this.#leaseMs / 6
  }

  /** Starts keeping `holder`'s lease; extends it now if it is not nearly full. */
  add(holder: H): void {
    this.#held.add(holder)
    this.#keep(holder, this.#clock.now())
    this.#timer ??= this.#clock.setTimer(() => this.#sweep(), this.#leaseMs / 6)
  }

  /** Stops keeping it (settled, handed back). */
  delete(holder: H): void {
    this.#held.delete(holder)
    this.#extending.delete(holder)
  }

  clear(): void {
    this.#held.clear()
    this.#extending.clear()
    if (this.#timer) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
  }

  #sweep(): void {
    this.#timer = undefined
    if (this.#held.size === 0) return
    const now = this.#clock.now()
    for (const holder of [...this.#held]) this.#keep(holder, now)
    if (this.#held.size > 0) this.#timer = this.#clock.setTimer(() => this.#sweep(), this.#leaseMs / 6)
  }

  #keep(holder: H, now: number): void {
    const { delivery } = holder
    const remaining = delivery.leaseExpiresAt - now
    if (remaining < this.marginMs) {
      this.#lost(holder, new LeaseLostError(delivery.id, 'could not extend it before it ran out'))
      return
    }
    if (remaining > (this.#leaseMs * 2) / 3 || this.#extending.has(holder)) return
    this.#extending.add(holder)
    delivery.extendLease(this.#leaseMs).then(
      () => this.#extending.delete(holder),
      (err: unknown) => {
        this.#extending.delete(holder)
        if (!this.#held.has(holder)) return
        if (err instanceof LeaseLostError) this.#lost(holder, err)
        else if (err instanceof AlreadySettledError) this.delete(holder)
        else
          this.#log.warn(
            { jobId: delivery.id, queue: delivery.queue, err },
            'could not extend lease; trying again',
          )
      },
    )
  }

  #lost(holder: H, err: LeaseLostError): void {
    if (!this.#held.has(holder)) return
    this.delete(holder)
    this.#onLost(holder, err)
  }
}
