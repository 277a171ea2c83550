import Type, { type Static } from 'typebox'

export const BackoffSchema = Type.Object(
  {
    /** Delay cap for the first retry; doubles each attempt. Default 1000 ms. */
    baseMs: Type.Integer({ minimum: 0, default: 1000 }),
    /** The largest delay any retry waits. Default 300000 ms (5 minutes). */
    maxMs: Type.Integer({ minimum: 0, default: 300_000 }),
  },
  { additionalProperties: false },
)

export type Backoff = Static<typeof BackoffSchema>

/**
 * Exponential backoff with full jitter: a uniform random delay between 0 and
 * min(maxMs, baseMs * 2^(attempt - 1)), so retries of many failed jobs spread out instead of stampeding.
 * `attempt` is the attempt that just failed (1-based).
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.floor(random() * ceiling)
}
