import { pino } from 'pino'

/** A logger for tests: silent unless TEST_LOG_LEVEL is set. */
export const testLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

/** A promise with its resolve exposed: a gate a test opens when it chooses. */
export function deferred<T = void>(): {
  promise: Promise<T>
  resolve: (v: T) => void
  reject: (e: unknown) => void
} {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * Re-checks `condition` whenever `nudge` is called and at most every `everyMs` (for remote state such
 * as approximate queue counts that emit no event), failing after `timeoutMs`.
 */
export async function eventually<T>(
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  { timeoutMs = 10_000, everyMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await condition()
      if (value) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Deterministic pseudo-random numbers (mulberry32), for tests that want "random" failures reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
