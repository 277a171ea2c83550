import { type Clock, systemClock } from '../../src/clock.ts'

const HOUR_MS = 3_600_000

/**
 * At most `perHour` emails to one address in any sliding hour. Counts live in this process: with N
 * workers an address can get up to N × perHour (a shared counter would need a store with atomic
 * increments, which the embedded defaults do not have).
 */
export class RecipientLimit {
  readonly perHour: number
  readonly #clock: Clock
  readonly #sent = new Map<string, number[]>()

  constructor(perHour: number, clock: Clock = systemClock) {
    this.perHour = perHour
    this.#clock = clock
  }

  /** Counts one email to `address` and returns true, or returns false when its hour is full. */
  take(address: string): boolean {
    const key = address.trim().toLowerCase()
    const now = this.#clock.now()
    const times = (this.#sent.get(key) ?? []).filter((t) => t > now - HOUR_MS)
    if (times.length >= this.perHour) {
      this.#sent.set(key, times)
      return false
    }
    times.push(now)
    this.#sent.set(key, times)
    if (this.#sent.size > 10_000) this.#prune(now)
    return true
  }

  #prune(now: number): void {
    for (const [key, times] of this.#sent) if (times.at(-1)! <= now - HOUR_MS) this.#sent.delete(key)
  }
}
