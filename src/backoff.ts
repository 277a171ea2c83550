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

/**
 * How long a consumer waits before receiving again after `failures` failed receives in a row (1-based):
 * 0.2 s doubling to 5 s, with equal jitter (half to all of it), so workers cut off together do not all
 * come back at the same instant.
 */
export function receiveBackoffMs(failures: number, random: () => number = Math.random): number {
  return Math.min(5_000, 200 * 2 ** (failures - 1)) * (0.5 + random() / 2)
}
