/**
 * Runs work one call at a time per key, in call order. A caller whose `signal` aborts while it waits
 * gives up at once (its work never runs), and the next in line still waits for everyone before it.
 */
export class Serializer {
  readonly #tails = new Map<string, Promise<void>>()

  async run<T>(key: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted()
    const previous = this.#tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((resolve) => {
      release = resolve
    })
    const tail = previous.then(() => mine)
    this.#tails.set(key, tail)
    try {
      await (signal ? waitOrAbort(previous, signal) : previous)
      return await work()
    } finally {
      release()
      void tail.then(() => {
        if (this.#tails.get(key) === tail) this.#tails.delete(key)
      })
    }
  }
}

function waitOrAbort(previous: Promise<void>, signal: AbortSignal): Promise<void> {
  let onAbort: () => void = () => {}
  return new Promise<void>((resolve, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    void previous.then(resolve)
  }).finally(() => signal.removeEventListener('abort', onAbort))
}
