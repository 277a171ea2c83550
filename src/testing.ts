import type { Worker } from './worker.ts'
import type { JobOutcomeEvent } from './worker-options.ts'

type Outcome = JobOutcomeEvent['outcome']

/**
 * Lets a test await what happens to a job instead of sleeping:
 *   const outcomes = new JobOutcomes(worker)
 *   const { id } = await producer.enqueue(job, payload)
 *   await outcomes.waitFor(id)              // success or dead_letter, whichever ends it
 *   await outcomes.waitFor(id, 'retry')     // the first retry
 * Events that happened before `waitFor` was called count too.
 */
export class JobOutcomes {
  readonly events: JobOutcomeEvent[] = []
  readonly #waiters = new Set<{
    match: (e: JobOutcomeEvent) => boolean
    resolve: (e: JobOutcomeEvent) => void
  }>()
  readonly #unsubscribe: () => void

  constructor(worker: Worker) {
    this.#unsubscribe = worker.onOutcome((event) => {
      this.events.push(event)
      for (const waiter of this.#waiters) {
        if (!waiter.match(event)) continue
        this.#waiters.delete(waiter)
        waiter.resolve(event)
      }
    })
  }

  /** Resolves with the first event for `id` whose outcome is one of `outcomes` (default: a final one). */
  waitFor(
    id: string,
    outcomes: Outcome | Outcome[] = ['success', 'dead_letter'],
    timeoutMs = 10_000,
  ): Promise<JobOutcomeEvent> {
    const wanted = new Set(Array.isArray(outcomes) ? outcomes : [outcomes])
    return this.waitUntil(
      (e) => e.id === id && wanted.has(e.outcome),
      `job ${id} to reach ${[...wanted].join('/')}`,
      timeoutMs,
    )
  }

  /** Resolves with the first event that matches; rejects after `timeoutMs` (a failing test, not a sleep). */
  waitUntil(
    match: (e: JobOutcomeEvent) => boolean,
    what = 'a matching job outcome',
    timeoutMs = 10_000,
  ): Promise<JobOutcomeEvent> {
    const seen = this.events.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      const waiter = {
        match,
        resolve: (e: JobOutcomeEvent) => {
          clearTimeout(timer)
          resolve(e)
        },
      }
      this.#waiters.add(waiter)
    })
  }

  /** Outcomes for `id` so far, in order. */
  of(id: string): Outcome[] {
    return this.events.filter((e) => e.id === id).map((e) => e.outcome)
  }

  close(): void {
    this.#unsubscribe()
  }
}

export { ManualClock } from './clock.ts'
