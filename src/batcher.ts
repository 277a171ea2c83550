/**
 * Gathers single calls into batch requests: an item waits at most `flushMs` for company, and a batch
 * goes out as soon as it holds `maxItems` items or the next item would push it past `maxBytes`.
 * Each caller's promise settles with its own item's result.
 */
export interface BatcherOptions<T> {
  maxItems: number
  maxBytes: number
  flushMs: number
  sizeOf: (item: T) => number
  /** Sends one batch; resolves to one entry per item: undefined for success, or that item's error. */
  send: (items: T[]) => Promise<(Error | undefined)[]>
}

interface Pending<T> {
  item: T
  resolve: () => void
  reject: (err: unknown) => void
}

export class Batcher<T> {
  readonly #options: BatcherOptions<T>
  #pending: Pending<T>[] = []
  #bytes = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #inFlight = new Set<Promise<void>>()

  constructor(options: BatcherOptions<T>) {
    this.#options = options
  }

  add(item: T): Promise<void> {
    const size = this.#options.sizeOf(item)
    if (this.#pending.length > 0 && this.#bytes + size > this.#options.maxBytes) this.flush()
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject })
      this.#bytes += size
      if (this.#pending.length >= this.#options.maxItems) this.flush()
      else this.#timer ??= setTimeout(() => this.flush(), this.#options.flushMs)
    })
  }

  /** Sends what is waiting now. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    const batch = this.#pending
    if (batch.length === 0) return
    this.#pending = []
    this.#bytes = 0
    const sent = this.#options
      .send(batch.map((p) => p.item))
      .then(
        (results) => {
          batch.forEach((p, i) => {
            const err = results[i]
            if (err) p.reject(err)
            else p.resolve()
          })
        },
        (err: unknown) => {
          for (const p of batch) p.reject(err)
        },
      )
      .finally(() => this.#inFlight.delete(sent))
    this.#inFlight.add(sent)
  }

  /** Flushes and waits for every request under way. */
  async drain(): Promise<void> {
    this.flush()
    await Promise.all(this.#inFlight)
  }
}
