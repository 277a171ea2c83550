import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Spaces sends to at most `perSecond`, across every caller sharing this instance (all concurrent jobs
 * of one process). Each `wait()` takes the next free slot, 1/perSecond after the previous one.
 */
export class SendRate {
  readonly perSecond: number
  readonly #intervalMs: number
  #nextSlot = 0

  constructor(perSecond: number) {
    this.perSecond = perSecond
    this.#intervalMs = 1000 / perSecond
  }

  /** Resolves at this send's turn; rejects with the signal's reason if it aborts first. */
  async wait(signal?: AbortSignal): Promise<void> {
    const now = Date.now()
    const at = Math.max(now, this.#nextSlot)
    this.#nextSlot = at + this.#intervalMs
    if (at > now) await sleep(at - now, undefined, { signal })
  }
}
