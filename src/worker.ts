import { context } from '@opentelemetry/api'
import { backoffDelay } from './backoff.ts'
import { type Clock, systemClock } from './clock.ts'
import { DeadlineQueue } from './deadline-queue.ts'
import { Dispatcher } from './dispatcher.ts'
import type { DeadLetterCode } from './envelope.ts'
import {
  describeError,
  InvalidPayloadError,
  JobCancelledError,
  JobTimeoutError,
  type LeaseLostError,
  NonRetryableError,
  UnknownJobTypeError,
} from './errors.ts'
import { JobRun } from './job-run.ts'
import { type LeaseHolder, LeaseKeeper } from './lease-keeper.ts'
import { RunTracker, type StartVerdict } from './ledger/run-tracker.ts'
import { createLogger, type Logger } from './logger.ts'
import { Metrics } from './metrics.ts'
import { OutcomeEvents } from './outcome-events.ts'
import type { Delivery, Queue } from './queue.ts'
import { JobRegistry } from './registry.ts'
import { ack, release, Settler } from './settler.ts'
import { endAttemptSpan, startAttemptSpan } from './tracing.ts'
import { TwinHolds } from './twin-holds.ts'
import {
  type JobOutcomeEvent,
  type WorkerOptions,
  type WorkerSettings,
  workerSettings,
} from './worker-options.ts'

/** Stops a job that was still running when the worker's grace period ended. */
export class WorkerStoppingError extends Error {
  override name = 'WorkerStoppingError'
}

/**
 * Runs jobs from one or more queues with one shared concurrency limit. Owns policy: dispatch by type,
 * payload validation, timeouts that abort the handler, backoff, attempts, dead-lettering, leases for
 * long jobs (fencing a handler whose lease is lost), graceful stop.
 *
 * A message id runs at most once at a time in one worker: a second delivery of an id already running
 * (its lease was lost, or it was sent twice) is held until the first run ends, then acked with it (the
 * first succeeded) or released. `attempt` is the delivery's handler-run number (see Delivery.attempt).
 */
export class Worker {
  readonly settings: WorkerSettings
  readonly registry: JobRegistry
  readonly metrics: Metrics
  readonly #queue: Queue
  readonly #log: Logger
  readonly #clock: Clock
  readonly #random: () => number
  readonly #timeouts: DeadlineQueue<JobRun>
  readonly #leases: LeaseKeeper<LeaseHolder>
  readonly #settler: Settler
  /** The job ledger's worker side; undefined when the worker runs without a job store. */
  readonly #tracker: RunTracker<JobRun> | undefined
  /** Running jobs by message id. */
  readonly #active = new Map<string, JobRun>()
  /** Second deliveries of a message id that is running, waiting for that run to end. */
  readonly #twins: TwinHolds
  readonly #events = new OutcomeEvents()
  readonly #dispatch: Dispatcher
  #running = 0
  #abandoned = 0
  #idleWaiters: (() => void)[] = []
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new'
  #stopped: Promise<void> | undefined

  constructor(options: WorkerOptions) {
    const { queue, jobs, logger, metrics, clock, random, ledger, ...settings } = options
    this.settings = workerSettings.parse('worker options', settings)
    this.registry = jobs instanceof JobRegistry ? jobs : new JobRegistry(jobs)
    this.#queue = queue
    this.#log = logger ?? createLogger()
    this.metrics = metrics ?? new Metrics()
    this.#clock = clock ?? systemClock
    this.#random = random ?? Math.random
    this.#timeouts = new DeadlineQueue(this.#clock, (run) => this.#onTimeout(run))
    const { leaseMs } = this.settings
    this.#leases = new LeaseKeeper(this.#clock, leaseMs, this.#log, (h, err) => this.#leaseLost(h, err))
    this.#settler = new Settler(this.#clock, this.#log, this.metrics, leaseMs / 6)
    this.#twins = new TwinHolds(this.#leases, this.#settler)
    const freeSlots = () => (this.#state === 'running' ? this.settings.concurrency - this.#running : 0)
    this.#dispatch = new Dispatcher(freeSlots, (delivery) => this.#start(delivery))
    this.#tracker = ledger
      ? new RunTracker<JobRun>(ledger, {
          clock: this.#clock,
          intervalMs: leaseMs / 6,
          onCancel: (run) => this.#onCancel(run as JobRun),
        })
      : undefined
    this.metrics.trackWorker(this)
  }

  /** Handlers running now (holding a slot). */
  get running(): number {
    return this.#running
  }

  /** Handlers that timed out and have not returned yet. */
  get abandoned(): number {
    return this.#abandoned
  }

  /** Queues whose consumer is not receiving (for readiness); empty when the worker is not running. */
  get notConsuming(): string[] {
    if (this.#state !== 'running') return []
    return this.#dispatch.consumers.filter((c) => !c.consuming).map((c) => c.queue)
  }

  /** The queues this worker consumes, with their weights. */
  get queues(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const name of this.registry.queues()) out[name] = 1
    return Object.assign(out, this.settings.weights)
  }

  /** Subscribes to every attempt's outcome; returns the unsubscribe function. */
  onOutcome(listener: (event: JobOutcomeEvent) => void): () => void {
    return this.#events.on(listener)
  }

  start(): this {
    if (this.#state !== 'new') throw new Error('a Worker can be started once')
    this.#state = 'running'
    const prefetch = this.settings.prefetch ?? this.settings.concurrency
    for (const [name, weight] of Object.entries(this.queues)) {
      this.#dispatch.add(weight, (onReadable) =>
        this.#queue.consume(name, {
          prefetch,
          leaseMs: this.settings.leaseMs,
          onReadable,
        }),
      )
      this.metrics.watchQueue(this.#queue, name)
    }
    this.#log.info({ queues: this.queues, concurrency: this.settings.concurrency }, 'worker started')
    this.#dispatch.schedule()
    return this
  }

  /**
   * Graceful stop: receive nothing more, let running jobs finish for up to `graceMs`, then abort the rest
   * and hand them back for redelivery. Resolves when every settlement has reached the backend.
   */
  stop(graceMs = this.settings.shutdownGraceMs): Promise<void> {
    this.#stopped ??= this.#stop(graceMs)
    return this.#stopped
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped'
      return
    }
    this.#state = 'stopping'
    this.#log.info({ running: this.#running, graceMs }, 'worker stopping')
    // Consumers stop receiving while running jobs get their grace period. Hand-backs wait for both, so
    // no receive of ours is still under way to pick the handed-back messages up again.
    const consumersClosed = Promise.all(this.#dispatch.consumers.map((c) => c.close()))
    if (this.#running > 0) {
      let timer: ReturnType<Clock['setTimer']> | undefined
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve)
        timer = this.#clock.setTimer(resolve, graceMs)
      })
      if (timer) this.#clock.clearTimer(timer)
    }
    await consumersClosed
    for (const run of [...this.#active.values()]) this.#handBack(run)
    await this.#settler.idle()
    this.#timeouts.clear()
    this.#leases.clear()
    this.#tracker?.close()
    this.#state = 'stopped'
    this.#log.info('worker stopped')
  }

  #start(delivery: Delivery): void {
    this.#running++
    // One clock read for the whole start: the lease check, the run's start, its lease and its timeout.
    const now = this.#clock.now()
    if (delivery.leaseExpiresAt - now < this.#leases.marginMs) {
      this.#expired(delivery)
      return
    }
    if (this.#active.has(delivery.id)) {
      this.#holdTwin(delivery)
      return
    }
    const envelope = delivery.envelope
    if (!envelope) {
      const err = delivery.malformed!
      const code = err.code === 'CLAIM_CHECK_MISSING' ? 'claim_check_missing' : 'malformed'
      this.#reject(delivery, undefined, code, err)
      return
    }
    const job = this.registry.get(envelope.type)
    if (!job) {
      const err = new UnknownJobTypeError(envelope.type, { messageId: delivery.id })
      this.#reject(delivery, envelope.type, 'unknown_type', err)
      return
    }
    const problems = job.validate(envelope.payload)
    if (problems.length > 0) {
      const err = new InvalidPayloadError(job.type, problems, { messageId: delivery.id })
      this.#reject(delivery, job.type, 'invalid_payload', err)
      return
    }
    const run = new JobRun(delivery, envelope, job, this.#log, now)
    this.#active.set(run.id, run)
    this.#leases.add(run, now) // a lease aged in a buffer is extended now: the lease counts from the start
    const tracker = job.track ? this.#tracker : undefined
    if (tracker) {
      // The ledger answers first: a job cancelled before it started, or one already finished, never runs.
      run.progressSink = tracker
      tracker.start(run, (verdict) => this.#run(run, verdict))
      return
    }
    this.#run(run, 'run', now)
  }

  /** `now`: the clock as read when the run started, when it starts in the same turn. */
  #run(run: JobRun, verdict: StartVerdict, now = this.#clock.now()): void {
    if (run.finished) return // its lease was lost, or it was handed back, while the ledger answered
    if (verdict !== 'run') {
      this.#skip(run, verdict)
      return
    }
    const { job, envelope } = run
    run.timeout = this.#timeouts.schedule(now + job.timeoutMs, run)
    const traced = startAttemptSpan(run.queue, run)
    run.span = traced.span
    let result: unknown
    try {
      // The handler runs in its attempt's span: its own spans and the jobs it enqueues join the trace.
      result = traced.context
        ? context.with(traced.context, () => job.handle(envelope.payload, run))
        : job.handle(envelope.payload, run)
    } catch (err) {
      this.#failed(run, err)
      return
    }
    if (result instanceof Promise) {
      result.then(
        (value: unknown) => this.#succeeded(run, value),
        (err: unknown) => this.#failed(run, err),
      )
    } else this.#succeeded(run, result)
  }

  /** The ledger says the job was cancelled before it started, or already finished: ack it, never run it. */
  #skip(run: JobRun, verdict: Exclude<StartVerdict, 'run'>): void {
    this.#finish(run, true)
    this.#settler.settle(run.delivery, ack)
    run.log.info(
      { outcome: verdict },
      verdict === 'cancelled'
        ? 'job was cancelled; not run'
        : 'job already finished; duplicate delivery acked',
    )
    this.#events.emit(run.delivery, run.type, verdict)
    this.#afterSlotFreed()
  }

  /** Dead-letters a delivery that can never run: it is not an envelope, its type is unknown, or its payload is invalid. */
  #reject(delivery: Delivery, type: string | undefined, code: DeadLetterCode, err: Error): void {
    this.#running--
    const reason = { code, message: err.message, error: describeError(err) }
    this.#settler.settle(delivery, (d) => d.deadLetter(reason))
    const { span } = startAttemptSpan(delivery.queue, {
      id: delivery.id,
      type,
      attempt: delivery.attempt,
      traceparent: delivery.envelope?.traceparent,
    })
    if (span) endAttemptSpan(span, { outcome: 'dead_letter', code, reason: err.message, error: err })
    if (delivery.envelope && this.registry.get(delivery.envelope.type)?.track !== false)
      this.#tracker?.rejected(delivery.id, delivery.attempt, code, err.message)
    this.metrics.series(delivery.queue, type ?? 'unknown').record('dead_letter', 0)
    this.#log.error(
      { jobId: delivery.id, type, queue: delivery.queue, attempt: delivery.attempt, err, code },
      'job dead-lettered',
    )
    this.#events.emit(delivery, type, 'dead_letter', { deadLetterCode: code, error: err })
    this.#afterSlotFreed()
  }

  #succeeded(run: JobRun, value: unknown): void {
    if (run.finished) {
      this.#returnedLate(run)
      return
    }
    this.#finish(run, true)
    this.#settler.settle(run.delivery, ack)
    if (run.span) endAttemptSpan(run.span, { outcome: 'success' })
    const announce = this.#events.announce(run.delivery, run.type, 'success')
    if (run.job.track && this.#tracker) this.#tracker.succeeded(run, value, announce)
    else announce?.()
    const durationMs = this.#record(run, 'success')
    if (this.#log.isLevelEnabled('info')) run.log.info({ durationMs, outcome: 'success' }, 'job succeeded')
    this.#afterSlotFreed()
  }

  #failed(run: JobRun, err: unknown): void {
    if (run.finished) {
      this.#returnedLate(run)
      return
    }
    this.#finish(run)
    const { delivery, job } = run
    const code: DeadLetterCode | undefined =
      err instanceof NonRetryableError
        ? 'non_retryable'
        : run.attempt >= run.maxAttempts
          ? 'max_attempts'
          : undefined
    if (code) {
      // The code already says "non-retryable" and `error` carries the class: the message says the rest once.
      const text = (err as Error)?.message ?? String(err)
      const message =
        code === 'non_retryable' ? text : `failed ${run.attempt} of ${run.maxAttempts} attempts: ${text}`
      const reason = { code, message, error: describeError(err) }
      this.#settler.settle(delivery, (d) => d.deadLetter(reason))
      if (run.span) endAttemptSpan(run.span, { outcome: 'dead_letter', code, reason: message, error: err })
      const announce = this.#events.announce(delivery, job.type, 'dead_letter', {
        deadLetterCode: code,
        error: err,
      })
      if (job.track && this.#tracker) this.#tracker.failed(run, code, message, announce)
      else announce?.()
      const durationMs = this.#record(run, 'dead_letter')
      run.log.error({ err, durationMs, outcome: 'dead_letter', code }, 'job dead-lettered')
    } else {
      const outcome = err instanceof JobTimeoutError ? 'timeout' : 'retry'
      const retryInMs = backoffDelay(run.attempt, job.backoff, this.#random)
      this.#settler.settle(delivery, (d) => d.retry(retryInMs))
      if (run.span) endAttemptSpan(run.span, { outcome, error: err, retryInMs })
      const announce = this.#events.announce(delivery, job.type, outcome, { retryInMs, error: err })
      if (job.track && this.#tracker) {
        const e = describeError(err)
        this.#tracker.retrying(run, this.#clock.now() + retryInMs, e.code ?? e.name, e.message, announce)
      } else announce?.()
      const durationMs = this.#record(run, outcome)
      run.log.warn({ err, durationMs, outcome, retryInMs }, 'job failed; will retry')
    }
    this.#afterSlotFreed()
  }

  #onTimeout(run: JobRun): void {
    if (run.finished) return
    const err = new JobTimeoutError(run.job.timeoutMs, { messageId: run.id })
    run.abort(err)
    run.abandoned = true
    this.#abandoned++
    this.#failed(run, err)
  }

  /** Someone cancelled the running job: abort its signal, ack it, record `cancelled`. Never retried. */
  #onCancel(run: JobRun): void {
    if (run.finished) return
    run.abort(new JobCancelledError({ messageId: run.id }))
    run.abandoned = true
    this.#abandoned++
    this.#finish(run, true)
    this.#settler.settle(run.delivery, ack)
    if (run.span) endAttemptSpan(run.span, { outcome: 'cancelled' })
    this.#tracker?.cancelled(run, this.#events.announce(run.delivery, run.type, 'cancelled'))
    run.log.info({ outcome: 'cancelled', durationMs: this.#clock.now() - run.startedAt }, 'job cancelled')
    this.#afterSlotFreed()
  }

  /** The lease of a running job (or of a held twin) is gone: abort the handler, settle nothing. */
  #leaseLost(holder: LeaseHolder, err: LeaseLostError): void {
    const { delivery } = holder
    this.metrics.leaseLost.inc({ queue: delivery.queue })
    if (!(holder instanceof JobRun)) {
      this.#twins.drop(holder)
      return
    }
    if (holder.finished) return
    holder.abort(err)
    holder.abandoned = true
    this.#abandoned++
    this.#tracker?.forget(holder)
    if (holder.span) endAttemptSpan(holder.span, { outcome: 'lease_lost', error: err })
    this.#finish(holder)
    holder.log.warn({ err }, 'lease lost; handler aborted, nothing acked (the message runs again)')
    this.#events.emit(delivery, holder.type, 'lease_lost', { error: err })
    this.#afterSlotFreed()
  }

  /** A delivery whose lease ran out (or nearly) before it could start: not run. */
  #expired(delivery: Delivery): void {
    this.#running--
    this.metrics.leaseLost.inc({ queue: delivery.queue })
    // Still ours for a moment: hand it back unrun. Already gone: someone else has it; leave it.
    if (delivery.leaseExpiresAt > this.#clock.now()) this.#settler.settle(delivery, release)
    this.#log.warn({ jobId: delivery.id, queue: delivery.queue }, 'delivery not started: its lease ran out')
    this.#events.emit(delivery, delivery.envelope?.type, 'lease_lost')
    this.#afterSlotFreed()
  }

  /** A second delivery of a message running here: held, then settled with the first run's outcome. */
  #holdTwin(delivery: Delivery): void {
    this.#running--
    this.metrics.duplicates.inc({ queue: delivery.queue })
    this.#twins.hold(delivery)
    this.#log.warn(
      { jobId: delivery.id, queue: delivery.queue },
      'message already running here; not started twice',
    )
    this.#afterSlotFreed()
  }

  /** Shutdown: abort a job still running after the grace period and hand it back for redelivery. */
  #handBack(run: JobRun): void {
    run.abort(new WorkerStoppingError('worker stopped before the job finished'))
    this.#tracker?.forget(run)
    this.#finish(run)
    this.#settler.settle(run.delivery, (d) => d.retry(0))
    run.span?.addEvent('released', { 'conveyor.reason': 'worker stopped' })
    run.span?.end()
    this.#events.emit(run.delivery, run.type, 'released')
    run.log.warn('job handed back unfinished at shutdown')
  }

  /** A handler that timed out (or was handed back) has finally returned; its result is ignored. */
  #returnedLate(run: JobRun): void {
    if (!run.abandoned) return
    run.abandoned = false
    this.#abandoned--
  }

  /** The run holds no slot any more; twins held for it are acked (it succeeded) or released. */
  #finish(run: JobRun, succeeded = false): void {
    run.finished = true
    this.#active.delete(run.id)
    this.#leases.delete(run)
    this.#running--
    if (run.timeout) this.#timeouts.cancel(run.timeout)
    this.#twins.settle(run.id, succeeded)
  }

  /** Counts the attempt in the metrics; returns how long it ran, in ms. */
  #record(run: JobRun, outcome: 'success' | 'retry' | 'timeout' | 'dead_letter'): number {
    const now = this.#clock.now()
    const durationMs = now - run.startedAt
    // The per-minute throughput counts by the wall clock: it reuses this reading when it is one.
    const wallNow = this.#clock === systemClock ? now : undefined
    this.metrics.series(run.queue, run.type).record(outcome, durationMs / 1000, wallNow)
    return durationMs
  }

  #afterSlotFreed(): void {
    this.#wakeIdle()
    if (this.#state === 'running') this.#dispatch.pump()
  }

  #wakeIdle(): void {
    if (this.#running === 0 && this.#idleWaiters.length > 0)
      for (const wake of this.#idleWaiters.splice(0)) wake()
  }
}
