import type { Clock } from './clock.ts'
import { AlreadySettledError, LeaseLostError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { Delivery } from './queue.ts'

/** Something holding a delivery's lease: a running job, or a duplicate waiting for its twin. */
export interface LeaseHolder {
  readonly delivery: Delivery
  /**
   * The keeper's own bookkeeping: where the holder sits in its list of held leases (-1 when it is not
   * held), and whether an extension is under way. A holder starts at -1 and false; only its keeper
   * changes them (no set or map lookup per job).
   */
  leaseIndex: number
  leaseExtending: boolean
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
  /** Held leases; each holder knows its place (`leaseIndex`), so letting go is O(1). */
  readonly #held: H[] = []
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

  /** Starts keeping `holder`'s lease; extends it now if it is not nearly full. `now`: the clock, if just read. */
  add(holder: H, now = this.#clock.now()): void {
    if (holder.leaseIndex < 0) {
      holder.leaseIndex = this.#held.length
      this.#held.push(holder)
    }
    this.#keep(holder, now)
    this.#timer ??= this.#clock.setTimer(() => this.#sweep(), this.#leaseMs / 6)
  }

  /** Stops keeping it (settled, handed back). */
  delete(holder: H): void {
    holder.leaseExtending = false
    const at = holder.leaseIndex
    if (at < 0) return
    holder.leaseIndex = -1
    const held = this.#held
    const last = held.pop()!
    if (last !== holder) {
      held[at] = last
      last.leaseIndex = at
    }
  }

  clear(): void {
    for (const holder of this.#held) {
      holder.leaseIndex = -1
      holder.leaseExtending = false
    }
    this.#held.length = 0
    if (this.#timer) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
  }

  #sweep(): void {
    this.#timer = undefined
    if (this.#held.length === 0) return
    const now = this.#clock.now()
    for (const holder of [...this.#held]) this.#keep(holder, now)
    if (this.#held.length > 0) this.#timer = this.#clock.setTimer(() => this.#sweep(), this.#leaseMs / 6)
  }

  #keep(holder: H, now: number): void {
    const { delivery } = holder
    const remaining = delivery.leaseExpiresAt - now
    if (remaining < this.marginMs) {
      this.#lost(holder, new LeaseLostError(delivery.id, 'could not extend it before it ran out'))
      return
    }
    if (remaining > (this.#leaseMs * 2) / 3 || holder.leaseExtending) return
    holder.leaseExtending = true
    delivery.extendLease(this.#leaseMs).then(
      () => {
        holder.leaseExtending = false
      },
      (err: unknown) => {
        holder.leaseExtending = false
        if (holder.leaseIndex < 0) return
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
    if (holder.leaseIndex < 0) return
    this.delete(holder)
    this.#onLost(holder, err)
  }
}
