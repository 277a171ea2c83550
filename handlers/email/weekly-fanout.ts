import Type from 'typebox'
import { type Clock, systemClock } from '../../src/clock.ts'
import { defineJob } from '../../src/job.ts'
import type { Producer } from '../../src/producer.ts'
import type { Schedule } from '../../src/scheduler.ts'
import type { UserSource } from './users.ts'

const DAY_MS = 86_400_000

/** Monday (YYYY-MM-DD, UTC) of the week `at` falls in: a Sunday belongs to the week that ends on it. */
export function weekStartOf(at: number): string {
  const day = Math.floor(at / DAY_MS) * DAY_MS
  const weekday = (new Date(day).getUTCDay() + 6) % 7 // Monday 0 … Sunday 6
  return new Date(day - weekday * DAY_MS).toISOString().slice(0, 10)
}

export interface FanoutOptions {
  producer: Producer
  users: UserSource
  /** Users per batch (one round of enqueues the adapters batch into as few requests as they can). Default 100. */
  batchSize?: number
  /** At most this many summaries enqueued per second, so a million users do not flood the queue. Default 200. */
  perSecond?: number
  clock?: Clock
}

/**
 * `email.weekly-summary-fanout`: one `email.weekly-summary` per user of the source, for the week starting
 * `weekStart`. Each is enqueued with the idempotency key `weekly-summary:<weekStart>:<user>` (kept 8
 * days), so running the fan-out twice, or its retry after a crash half-way, sends nobody a second email.
 * Batches of `batchSize` are enqueued together (SQS and Pub/Sub put them in batched requests) and paced
 * to `perSecond`.
 */
export function weeklySummaryFanoutJob(options: FanoutOptions) {
  const batchSize = options.batchSize ?? 100
  const perSecond = options.perSecond ?? 200
  const clock = options.clock ?? systemClock
  return defineJob({
    type: 'email.weekly-summary-fanout',
    queue: 'emails',
    schema: Type.Object(
      {
        weekStart: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', errorMessage: 'must be YYYY-MM-DD' }),
      },
      { additionalProperties: false },
    ),
    timeoutMs: 6 * 3_600_000,
    maxAttempts: 5,
    async handle({ weekStart }, { signal, log }) {
      let users = 0
      let nextAt = 0
      for await (const batch of options.users.batches({ batchSize, signal })) {
        // Paced before each batch (not after the last): a batch of n waits n / perSecond after the one before.
        const waitMs = Math.floor(nextAt - clock.now())
        if (waitMs > 0) await pause(clock, waitMs, signal)
        nextAt = clock.now() + (batch.length / perSecond) * 1000
        const payloads = batch.map((u) => ({ to: u.email, name: u.name, owner: u.id, weekStart }))
        if (options.producer.ledger) {
          // Concurrent keyed enqueues: the SQS adapter joins them into SendMessageBatch requests and the
          // Pub/Sub publisher into batched Publish calls. A user whose key was used returns at once.
          await Promise.all(
            batch.map((u, i) =>
              options.producer.enqueue('email.weekly-summary', payloads[i]!, {
                key: `weekly-summary:${weekStart}:${u.id}`,
                keyTtlMs: 8 * DAY_MS,
                owner: u.id,
              }),
            ),
          )
        } else {
          // No job store, so no idempotency keys: one batched enqueue (a rerun sends again).
          await options.producer.enqueueMany('email.weekly-summary', payloads)
        }
        users += batch.length
      }
      log.info(
        { weekStart, users },
        'weekly summaries enqueued (users already sent to this week were left out)',
      )
      return { weekStart, users }
    },
  })
}

/** The shipped schedule: Sunday 09:00 UTC, the week that ends that day; a missed Sunday runs when schedulers return. */
export const weeklySummarySchedule: Schedule = {
  name: 'weekly-summary',
  cron: '0 9 * * 0',
  job: 'email.weekly-summary-fanout',
  payload: (tick: Date) => ({ weekStart: weekStartOf(tick.getTime()) }),
  overlap: 'skip',
  catchUp: 'latest',
}

function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimer(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clock.clearTimer(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
