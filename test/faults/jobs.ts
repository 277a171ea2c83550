import { setTimeout as sleep } from 'node:timers/promises'
import Type from 'typebox'
import { NonRetryableError } from '../../src/errors.ts'
import { defineJob, type JobDefinition } from '../../src/job.ts'
import type { EventSink } from './events.ts'

export const FAULT_QUEUE = 'faults'
export const FAULT_JOB = 'fault.work'

export const FaultPayload = Type.Object({
  /** The harness's name for the job. */
  key: Type.String(),
  /** How long the handler works, in ms. */
  ms: Type.Integer({ minimum: 0 }),
  /** Throw NonRetryableError instead of working (poison that reaches the handler). */
  fail: Type.Optional(Type.Boolean()),
})

/**
 * The one job of the fault suite: records its start, works for `ms` (stopping when its signal fires),
 * records its end. Every run of every job in every process lands in the shared event file.
 */
// One counter per process, so run ids stay unique with several workers in one process (memory).
let runs = 0

export function faultJob(
  sink: EventSink,
  options: { timeoutMs: number },
): JobDefinition<typeof FaultPayload> {
  return defineJob({
    type: FAULT_JOB,
    queue: FAULT_QUEUE,
    schema: FaultPayload,
    timeoutMs: options.timeoutMs,
    // The enqueue probe posts it through POST /v1/jobs.
    publishable: true,
    backoff: { baseMs: 100, maxMs: 1_000 },
    async handle({ key, ms, fail }, ctx) {
      const base = {
        key,
        id: ctx.id,
        pid: process.pid,
        run: `${process.pid}-${++runs}`,
        attempt: ctx.attempt,
      }
      sink({ e: 'start', ...base, t: Date.now() })
      try {
        if (fail) throw new NonRetryableError(`poison job ${key}`)
        await sleep(ms, undefined, { signal: ctx.signal })
      } catch (err) {
        sink({ e: 'abort', ...base, t: Date.now(), reason: (err as Error)?.name ?? String(err) })
        throw err
      }
      sink({ e: 'end', ...base, t: Date.now() })
    },
  })
}
