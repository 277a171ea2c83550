import type { Clock, TimerHandle } from './clock.ts'

/** A scheduled entry; `cancel` it to stop it firing. */
export interface Deadline<T> {
  readonly at: number
  readonly item: T
  cancelled: boolean
}

/**
 * Many deadlines, one timer: a binary min-heap ordered by time, with a single clock timer armed at the
 * earliest entry. Cancelled entries are dropped lazily when they reach the top (and the heap is
 * compacted when they pile up), so cancel is O(1).
 */
export class DeadlineQueue<T> {
  readonly #clock: Clock
  readonly #onDue: (item: T) => void
  #heap: Deadline<T>[] = []
  #cancelled = 0
  #timer: TimerHandle | undefined
  #timerAt = Number.POSITIVE_INFINITY

  constructor(clock: Clock, onDue: (item: T) => void) {
    this.#clock = clock
    this.#onDue = onDue
  }

  get size(): number {
    return this.#heap.length - this.#cancelled
  }

  schedule(at: number, item: T): Deadline<T> {
    const entry: Deadline<T> = { at, item, cancelled: false }
    this.#push(entry)
    if (at < this.#timerAt) this.#arm()
    return entry
  }

  cancel(entry: Deadline<T>): void {
    if (entry.cancelled) return
    entry.cancelled = true
    this.#cancelled++
    if (this.#cancelled > 1024 && this.#cancelled > this.#heap.length / 2) this.#compact()
  }

  /** Fires everything due now; called by the timer, and safe to call by hand. */
  runDue(): void {
    const now = this.#clock.now()
    for (;;) {
      const top = this.#heap[0]
      if (!top || top.at > now) break
      this.#pop()
      if (top.cancelled) {
        this.#cancelled--
        continue
      }
      top.cancelled = true
      this.#onDue(top.item)
    }
    this.#arm()
  }

  clear(): void {
    this.#heap = []
    this.#cancelled = 0
    this.#disarm()
  }

  #arm(): void {
    while (this.#heap[0]?.cancelled) {
      this.#pop()
      this.#cancelled--
    }
    const top = this.#heap[0]
    if (!top) {
      this.#disarm()
      return
    }
    if (top.at === this.#timerAt && this.#timer) return
    this.#disarm()
    this.#timerAt = top.at
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined
      this.#timerAt = Number.POSITIVE_INFINITY
      this.runDue()
    }, top.at - this.#clock.now())
  }

  #disarm(): void {
    if (this.#timer) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
  }

  #compact(): void {
    const live = this.#heap.filter((e) => !e.cancelled)
    this.#heap = []
    this.#cancelled = 0
    for (const e of live) this.#push(e)
  }

  #push(entry: Deadline<T>): void {
    const h = this.#heap
    h.push(entry)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (h[parent]!.at <= entry.at) break
      h[i] = h[parent]!
      i = parent
    }
    h[i] = entry
  }

  #pop(): void {
    const h = this.#heap
    const last = h.pop()!
    if (h.length === 0) return
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const r = l + 1
      const c = r < h.length && h[r]!.at < h[l]!.at ? r : l
      if (h[c]!.at >= last.at) break
      h[i] = h[c]!
      i = c
    }
    h[i] = last
  }
}
