import type { Span } from '@opentelemetry/api'
import type { Logger } from 'pino'
import type { Deadline } from './deadline-queue.ts'
import type { Envelope } from './envelope.ts'
import type { JobContext, JobDefinition } from './job.ts'
import type { Delivery } from './queue.ts'
import { traceIdOf } from './tracing.ts'

/**
 * One attempt of one job: the context its handler sees, and the worker's bookkeeping for it. The
 * AbortController and the child logger are made only if the handler asks for them.
 */
export class JobRun implements JobContext {
  readonly delivery: Delivery
  readonly job: JobDefinition
  readonly envelope: Envelope
  readonly startedAt: number
  readonly #parentLog: Logger
  #controller: AbortController | undefined
  #abortReason: unknown
  #log: Logger | undefined
  /**
   * Which handler run of this job this is (1-based), fixed when it starts: the delivery's count, which
   * leaves out deliveries released unrun. Retries, backoff and maxAttempts go by it.
   */
  readonly attempt: number
  timeout: Deadline<JobRun> | undefined
  /** The worker has settled this attempt (success, failure, timeout or hand-back); it holds no slot. */
  finished = false
  /** Timed out while the handler kept running. */
  abandoned = false
  /**
   * This attempt's CONSUMER span: undefined while no OpenTelemetry SDK is installed and the envelope
   * carries no trace, a non-recording span when it carries one but no SDK is installed.
   */
  span: Span | undefined
  /** The lease keeper's bookkeeping (see LeaseHolder): its place among held leases, -1 when not held. */
  leaseIndex = -1
  /** The lease keeper's bookkeeping: an extension of this run's lease is under way. */
  leaseExtending = false
  /** The job ledger's tracker: where this run sits among the runs it watches (-1: not watched). */
  watchIndex = -1
  /** Where `progress` goes: the job ledger's tracker, when the job is tracked. */
  progressSink: { progress(run: JobRun, percent: number, message?: string): Promise<void> } | undefined

  constructor(delivery: Delivery, envelope: Envelope, job: JobDefinition, log: Logger, startedAt: number) {
    this.delivery = delivery
    this.envelope = envelope
    this.job = job
    this.#parentLog = log
    this.startedAt = startedAt
    this.attempt = delivery.attempt
  }

  get id(): string {
    return this.delivery.id
  }
  get type(): string {
    return this.job.type
  }
  get queue(): string {
    return this.delivery.queue
  }
  get maxAttempts(): number {
    return this.envelope.maxAttempts
  }
  get traceparent(): string | undefined {
    return this.envelope.traceparent
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason)
    }
    return this.#controller.signal
  }

  get log(): Logger {
    if (!this.#log) {
      const traceId = traceIdOf(this.span, this.envelope.traceparent)
      this.#log = this.#parentLog.child({
        jobId: this.id,
        type: this.type,
        queue: this.queue,
        attempt: this.attempt,
        ...(traceId ? { traceId } : {}),
      })
    }
    return this.#log
  }

  progress(percent: number, message?: string): Promise<void> {
    return this.progressSink ? this.progressSink.progress(this, percent, message) : Promise.resolve()
  }

  abort(reason: unknown): void {
    if (this.#abortReason !== undefined) return
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }
}
