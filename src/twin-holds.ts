import type { LeaseHolder, LeaseKeeper } from './lease-keeper.ts'
import type { Delivery } from './queue.ts'
import { ack, release, type Settler } from './settler.ts'

/**
 * Second deliveries of a message already running in this worker (a redelivery after a lease scare, a
 * duplicate from the broker). They are never started: each is held, its lease kept alive, until the
 * first run ends, then acked if that run succeeded and released (handed back unrun) otherwise.
 */
export class TwinHolds {
  readonly #held = new Map<string, LeaseHolder[]>()
  readonly #leases: LeaseKeeper<LeaseHolder>
  readonly #settler: Settler

  constructor(leases: LeaseKeeper<LeaseHolder>, settler: Settler) {
    this.#leases = leases
    this.#settler = settler
  }

  /** Holds `delivery` until the run of its message id ends. */
  hold(delivery: Delivery): void {
    const twin: LeaseHolder = { delivery, leaseIndex: -1, leaseExtending: false }
    const twins = this.#held.get(delivery.id)
    if (twins) twins.push(twin)
    else this.#held.set(delivery.id, [twin])
    this.#leases.add(twin)
  }

  /** Forgets a held twin whose lease was lost (someone else may have its message now). */
  drop(holder: LeaseHolder): void {
    const twins = this.#held.get(holder.delivery.id)
    const at = twins?.indexOf(holder) ?? -1
    if (at >= 0) twins!.splice(at, 1)
  }

  /** The run of `id` ended: its twins are acked when it succeeded, released otherwise. */
  settle(id: string, succeeded: boolean): void {
    if (this.#held.size === 0) return
    const twins = this.#held.get(id)
    if (!twins) return
    this.#held.delete(id)
    for (const twin of twins) {
      const { delivery } = twin
      this.#leases.delete(twin)
      this.#settler.settle(delivery, succeeded ? ack : release)
    }
  }
}
