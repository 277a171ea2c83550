/**
 * Time as Conveyor sees it. Everything that waits (delays, leases, timeouts, backoff) goes through a
 * Clock, so tests can move time with a ManualClock instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Calls `fn` once after `ms`; returns a handle for `clearTimer`. */
  setTimer(fn: () => void, ms: number): TimerHandle
  clearTimer(handle: TimerHandle): void
}

export type TimerHandle = { readonly id: number } | ReturnType<typeof setTimeout>

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    return setTimeout(fn, Math.max(0, ms))
  },
  clearTimer(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}

interface ManualTimer {
  readonly id: number
  at: number
  fn: () => void
}

/** A clock that only moves when told to. `advance(ms)` fires due timers in time order. */
export class ManualClock implements Clock {
  #now: number
  #nextId = 1
  #timers = new Map<number, ManualTimer>()

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn }
    this.#timers.set(timer.id, timer)
    return { id: timer.id }
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers.delete((handle as { id: number }).id)
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, earliest first. */
  advance(ms: number): void {
    const target = this.#now + ms
    for (;;) {
      let next: ManualTimer | undefined
      for (const t of this.#timers.values()) if (t.at <= target && (!next || t.at < next.at)) next = t
      if (!next) break
      this.#timers.delete(next.id)
      this.#now = Math.max(this.#now, next.at)
      next.fn()
    }
    this.#now = target
  }
}
