import type { Consumer, Delivery } from './queue.ts'

interface Source {
  consumer: Consumer
  weight: number
  current: number
  empty: boolean
}

/**
 * Hands deliveries from a worker's consumers to its free slots: takes until every slot is busy or no
 * queue has any, choosing queues by smooth weighted round robin. Pumps at most once at a time; a wake-up
 * during a pump makes it go round again.
 */
export class Dispatcher {
  readonly #sources: Source[] = []
  readonly #freeSlots: () => number
  readonly #start: (delivery: Delivery) => void
  #pumping = false
  #pumpAgain = false
  #pumpQueued = false

  /** `freeSlots`: how many deliveries may start now (0 when the worker is not running). */
  constructor(freeSlots: () => number, start: (delivery: Delivery) => void) {
    this.#freeSlots = freeSlots
    this.#start = start
  }

  get consumers(): Consumer[] {
    return this.#sources.map((s) => s.consumer)
  }

  /** Adds a queue; `open` makes its consumer, given the callback to pass as `onReadable`. */
  add(weight: number, open: (onReadable: () => void) => Consumer): void {
    const source: Source = { weight, current: 0, empty: false, consumer: undefined as unknown as Consumer }
    source.consumer = open(() => {
      source.empty = false
      this.schedule()
    })
    this.#sources.push(source)
  }

  /** Pumps in a microtask (coalesced). */
  schedule(): void {
    if (this.#pumpQueued) return
    this.#pumpQueued = true
    queueMicrotask(() => {
      this.#pumpQueued = false
      this.pump()
    })
  }

  pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true
      return
    }
    this.#pumping = true
    try {
      do {
        this.#pumpAgain = false
        this.#fill()
      } while (this.#pumpAgain)
    } finally {
      this.#pumping = false
    }
  }

  #fill(): void {
    const sources = this.#sources
    if (sources.length === 1) {
      const only = sources[0]!
      for (let want = this.#freeSlots(); want > 0 && !only.empty; want = this.#freeSlots()) {
        const batch = only.consumer.take(want)
        if (batch.length < want) only.empty = true
        for (const d of batch) this.#start(d)
      }
      return
    }
    while (this.#freeSlots() > 0) {
      let pick: Source | undefined
      let total = 0
      for (const s of sources) {
        if (s.empty) continue
        s.current += s.weight
        total += s.weight
        if (!pick || s.current > pick.current) pick = s
      }
      if (!pick) return
      pick.current -= total
      const [delivery] = pick.consumer.take(1)
      if (delivery) this.#start(delivery)
      else pick.empty = true
    }
  }
}
