import type { Clock } from './clock.ts'
import { AlreadySettledError, LeaseLostError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import type { Delivery } from './queue.ts'

const FIRST_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 5_000

/** A settlement of a delivery: `ack`, `release`, or e.g. `(d) => d.retry(ms)`. */
export type Settlement = (delivery: Delivery) => Promise<void>

/** The settlements every job makes, shared (no closure per job). */
export const ack: Settlement = (delivery) => delivery.ack()
export const release: Settlement = (delivery) => delivery.release()

/**
 * Carries a worker's settlements (ack, retry, dead-letter, release) to the backend. A settlement that
 * fails while the lease still holds (an outage) is tried again with backoff (100 ms doubling to 5 s)
 * until it succeeds or the lease is about to run out; then the message is redelivered (at least once).
 * A settlement refused because the lease is gone (LeaseLostError) is not retried: it counts as lost.
 */
export class Settler {
  readonly #clock: Clock
  readonly #log: Logger
  readonly #metrics: Metrics
  readonly #marginMs: number
  #pending = 0
  #waiters: (() => void)[] = []
  /** One success callback for every settlement. */
  readonly #onDone = () => this.#done()

  constructor(clock: Clock, log: Logger, metrics: Metrics, marginMs: number) {
    this.#clock = clock
    this.#log = log
    this.#metrics = metrics
    this.#marginMs = marginMs
  }

  /** Settlements not yet finished (succeeded or given up). */
  get pending(): number {
    return this.#pending
  }

  /** Resolves when no settlement is under way. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Runs `settle` (e.g. `ack`) on `delivery` until it succeeds, the lease is lost, or time runs out. */
  settle(delivery: Delivery, settle: Settlement): void {
    this.#pending++
    this.#attempt(delivery, settle, 0)
  }

  #attempt(delivery: Delivery, settle: Settlement, failures: number): void {
    settle(delivery).then(this.#onDone, (err: unknown) => {
      const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** failures)
      const lost = err instanceof LeaseLostError || err instanceof AlreadySettledError
      const timeLeft = delivery.leaseExpiresAt - this.#clock.now() - this.#marginMs
      if (!lost && backoff < timeLeft) {
        if (failures === 0) {
          this.#log.warn({ jobId: delivery.id, queue: delivery.queue, err }, 'settlement failed; retrying')
        }
        this.#clock.setTimer(() => this.#attempt(delivery, settle, failures + 1), backoff)
        return
      }
      if (err instanceof LeaseLostError) this.#metrics.leaseLost.inc({ queue: delivery.queue })
      this.#metrics.settleErrors.inc({ queue: delivery.queue })
      this.#log.warn(
        { jobId: delivery.id, queue: delivery.queue, err, tries: failures + 1 },
        'settlement failed; the message will be redelivered',
      )
      this.#done()
    })
  }

  #done(): void {
    this.#pending--
    if (this.#pending === 0 && this.#waiters.length > 0) for (const wake of this.#waiters.splice(0)) wake()
  }
}
