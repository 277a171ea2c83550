import type { Outcome } from './job-series.ts'

const MINUTE_MS = 60_000

/** Finished attempts in one minute: `completed` succeeded, `retried` failed or timed out and will run again. */
export interface ThroughputMinute {
  /** Start of the minute (ISO 8601, UTC). */
  at: string
  completed: number
  retried: number
  deadLettered: number
}

/**
 * Finished attempts per minute over the last `minutes` (default an hour), in this process only: each
 * worker process counts its own jobs, so with several workers every process shows its share. A ring
 * of one slot per minute; `add` is a clock read and an increment.
 */
export class Throughput {
  readonly #minutes: number
  readonly #slots: { minute: number; completed: number; retried: number; deadLettered: number }[]

  constructor(minutes = 60) {
    this.#minutes = minutes
    this.#slots = Array.from({ length: minutes }, () => ({
      minute: -1,
      completed: 0,
      retried: 0,
      deadLettered: 0,
    }))
  }

  add(outcome: Outcome, now = Date.now()): void {
    const minute = Math.floor(now / MINUTE_MS)
    const slot = this.#slots[minute % this.#minutes]!
    if (slot.minute !== minute) {
      slot.minute = minute
      slot.completed = slot.retried = slot.deadLettered = 0
    }
    if (outcome === 'success') slot.completed++
    else if (outcome === 'dead_letter') slot.deadLettered++
    else slot.retried++
  }

  /** The last `minutes` minutes, oldest first, the current (partial) minute last; quiet minutes are zeros. */
  lastMinutes(now = Date.now()): ThroughputMinute[] {
    const current = Math.floor(now / MINUTE_MS)
    const result: ThroughputMinute[] = []
    for (let minute = current - this.#minutes + 1; minute <= current; minute++) {
      const slot = this.#slots[minute % this.#minutes]!
      const fresh = slot.minute === minute
      result.push({
        at: new Date(minute * MINUTE_MS).toISOString(),
        completed: fresh ? slot.completed : 0,
        retried: fresh ? slot.retried : 0,
        deadLettered: fresh ? slot.deadLettered : 0,
      })
    }
    return result
  }
}
