import { context } from '@opentelemetry/api'
import { backoffDelay } from './backoff.ts'
import { type Clock, systemClock } from './clock.ts'
import { DeadlineQueue } from './deadline-queue.ts'
import type { DeadLetterCode } from './envelope.ts'
import {
  describeError,
  InvalidPayloadError,
  JobCancelledError,
  JobTimeoutError,
  NonRetryableError,
  UnknownJobTypeError,
} from './errors.ts'
import { JobRun } from './job-run.ts'
import { RunTracker, type StartVerdict } from './ledger/run-tracker.ts'
import { createLogger, type Logger } from './logger.ts'
import { Metrics } from './metrics.ts'
import type { Consumer, Delivery, Queue } from './queue.ts'
import { JobRegistry } from './registry.ts'
import { endAttemptSpan, startAttemptSpan } from './tracing.ts'
import {
  type JobOutcomeEvent,
  type WorkerOptions,
  type WorkerSettings,
  workerSettings,
} from './worker-options.ts'

interface Source {
  consumer: Consumer
  weight: number
  current: number
  empty: boolean
}

/** Stops a job that was still running when the worker's grace period ended. */
export class WorkerStoppingError extends Error {
  override name = 'WorkerStoppingError'
}

/**
 * Runs jobs from one or more queues with one shared concurrency limit. Owns policy: dispatch by type,
 * payload validation, timeouts that abort the handler, backoff, attempts, dead-lettering, leases for
 * long jobs, graceful stop.
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
  /** The job ledger's worker side; undefined when the worker runs without a job store. */
  readonly #tracker: RunTracker<JobRun> | undefined
  #leaseSweep: ReturnType<Clock['setTimer']> | undefined
  readonly #runs = new Set<JobRun>()
  readonly #listeners: ((event: JobOutcomeEvent) => void)[] = []
  #sources: Source[] = []
  #running = 0
  #abandoned = 0
  #pendingSettles = 0
  #idleWaiters: (() => void)[] = []
  #settledWaiters: (() => void)[] = []
  #pumping = false
  #pumpAgain = false
  #pumpQueued = false
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
    this.#tracker = ledger
      ? new RunTracker<JobRun>(ledger, {
          clock: this.#clock,
          intervalMs: this.settings.leaseMs / 6,
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

  /** The queues this worker consumes, with their weights. */
  get queues(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const name of this.registry.queues()) out[name] = 1
    return Object.assign(out, this.settings.weights)
  }

  /** Subscribes to every attempt's outcome; returns the unsubscribe function. */
  onOutcome(listener: (event: JobOutcomeEvent) => void): () => void {
    this.#listeners.push(listener)
    return () => {
      const i = this.#listeners.indexOf(listener)
      if (i >= 0) this.#listeners.splice(i, 1)
    }
  }

  start(): this {
    if (this.#state !== 'new') throw new Error('a Worker can be started once')
    this.#state = 'running'
    const prefetch = this.settings.prefetch ?? this.settings.concurrency
    for (const [name, weight] of Object.entries(this.queues)) {
      const source: Source = { weight, current: 0, empty: false, consumer: undefined as unknown as Consumer }
      const longestJobMs = Math.max(
        0,
        ...[...this.registry].filter((j) => j.queue === name).map((j) => j.timeoutMs),
      )
      source.consumer = this.#queue.consume(name, {
        prefetch,
        leaseMs: this.settings.leaseMs,
        maxLeaseMs: longestJobMs + this.settings.leaseMs,
        onReadable: () => {
          source.empty = false
          this.#schedulePump()
        },
      })
      this.metrics.watchQueue(this.#queue, name)
      this.#sources.push(source)
    }
    this.#log.info({ queues: this.queues, concurrency: this.settings.concurrency }, 'worker started')
    this.#schedulePump()
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
    const consumersClosed = Promise.all(this.#sources.map((s) => s.consumer.close()))
    if (this.#running > 0) {
      let timer: ReturnType<Clock['setTimer']> | undefined
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve)
        timer = this.#clock.setTimer(resolve, graceMs)
      })
      if (timer) this.#clock.clearTimer(timer)
    }
    await consumersClosed
    for (const run of [...this.#runs]) {
      run.abort(new WorkerStoppingError('worker stopped before the job finished'))
      this.#tracker?.forget(run)
      this.#finish(run)
      this.#settle(run.delivery, run.delivery.retry(0))
      run.span?.addEvent('released', { 'conveyor.reason': 'worker stopped' })
      run.span?.end()
      this.#emit(run.delivery, run.type, 'released')
      run.log.warn('job handed back unfinished at shutdown')
    }
    if (this.#pendingSettles > 0) await new Promise<void>((resolve) => this.#settledWaiters.push(resolve))
    this.#timeouts.clear()
    this.#tracker?.close()
    if (this.#leaseSweep) this.#clock.clearTimer(this.#leaseSweep)
    this.#state = 'stopped'
    this.#log.info('worker stopped')
  }

  #schedulePump(): void {
    if (this.#pumpQueued) return
    this.#pumpQueued = true
    queueMicrotask(() => {
      this.#pumpQueued = false
      this.#pump()
    })
  }

  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true
      return
    }
    this.#pumping = true
    try {
      do {
        this.#pumpAgain = false
        this.#fill()
      } while (this.#pumpAgain)
    } finally {
      this.#pumping = false
    }
  }

  /** Takes deliveries until every slot is busy or no queue has any, choosing queues by smooth weighted round robin. */
  #fill(): void {
    const limit = this.settings.concurrency
    const sources = this.#sources
    if (sources.length === 1) {
      const only = sources[0]!
      while (this.#state === 'running' && this.#running < limit && !only.empty) {
        const want = limit - this.#running
        const batch = only.consumer.take(want)
        if (batch.length < want) only.empty = true
        for (const d of batch) this.#start(d)
      }
      return
    }
    while (this.#state === 'running' && this.#running < limit) {
      let pick: Source | undefined
      let total = 0
      for (const s of sources) {
        if (s.empty) continue
        s.current += s.weight
        total += s.weight
        if (!pick || s.current > pick.current) pick = s
      }
      if (!pick) return
      pick.current -= total
      const [delivery] = pick.consumer.take(1)
      if (delivery) this.#start(delivery)
      else pick.empty = true
    }
  }

  #start(delivery: Delivery): void {
    this.#running++
    const envelope = delivery.envelope
    if (!envelope) {
      this.#reject(delivery, undefined, 'malformed', delivery.malformed!)
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
    const now = this.#clock.now()
    const run = new JobRun(delivery, envelope, job, this.#log, now)
    this.#runs.add(run)
    const tracker = job.track ? this.#tracker : undefined
    if (tracker) {
      // The ledger answers first: a job cancelled before it started, or one already finished, never runs.
      run.progressSink = tracker
      tracker.start(run, (verdict) => this.#run(run, verdict))
      return
    }
    this.#run(run, 'run')
  }

  #run(run: JobRun, verdict: StartVerdict): void {
    if (run.finished) return // handed back at shutdown while the ledger answered
    if (verdict !== 'run') {
      this.#skip(run, verdict)
      return
    }
    const { job, envelope } = run
    run.timeout = this.#timeouts.schedule(this.#clock.now() + job.timeoutMs, run)
    this.#leaseSweep ??= this.#clock.setTimer(() => this.#sweepLeases(), this.settings.leaseMs / 6)
    const traced = startAttemptSpan(run.queue, {
      id: run.id,
      type: job.type,
      attempt: run.attempt,
      traceparent: envelope.traceparent,
    })
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
    this.#finish(run)
    this.#settle(run.delivery, run.delivery.ack())
    run.log.info(
      { outcome: verdict },
      verdict === 'cancelled'
        ? 'job was cancelled; not run'
        : 'job already finished; duplicate delivery acked',
    )
    this.#emit(run.delivery, run.type, verdict)
    this.#afterSlotFreed()
  }

  /** Dead-letters a delivery that can never run: it is not an envelope, its type is unknown, or its payload is invalid. */
  #reject(delivery: Delivery, type: string | undefined, code: DeadLetterCode, err: Error): void {
    this.#running--
    this.#settle(delivery, delivery.deadLetter({ code, message: err.message, error: describeError(err) }))
    const { span } = startAttemptSpan(delivery.queue, {
      id: delivery.id,
      type,
      attempt: delivery.attempt,
      traceparent: delivery.envelope?.traceparent,
    })
    endAttemptSpan(span, { outcome: 'dead_letter', code, reason: err.message, error: err })
    if (delivery.envelope && this.registry.get(delivery.envelope.type)?.track !== false)
      this.#tracker?.rejected(delivery.id, delivery.attempt, code, err.message)
    this.metrics.series(delivery.queue, type ?? 'unknown').record('dead_letter', 0)
    this.#log.error(
      { jobId: delivery.id, type, queue: delivery.queue, attempt: delivery.attempt, err, code },
      'job dead-lettered',
    )
    this.#emit(delivery, type, 'dead_letter', { deadLetterCode: code, error: err })
    this.#afterSlotFreed()
  }

  #succeeded(run: JobRun, value: unknown): void {
    if (run.finished) {
      this.#returnedLate(run)
      return
    }
    this.#finish(run)
    this.#settle(run.delivery, run.delivery.ack())
    if (run.span) endAttemptSpan(run.span, { outcome: 'success' })
    const announce = this.#announce(run.delivery, run.type, 'success')
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
        : delivery.attempt >= run.maxAttempts
          ? 'max_attempts'
          : undefined
    if (code) {
      const message =
        code === 'non_retryable'
          ? `non-retryable: ${(err as Error).message}`
          : `failed ${delivery.attempt} of ${run.maxAttempts} attempts: ${(err as Error)?.message ?? String(err)}`
      this.#settle(delivery, delivery.deadLetter({ code, message, error: describeError(err) }))
      if (run.span) endAttemptSpan(run.span, { outcome: 'dead_letter', code, reason: message, error: err })
      const announce = this.#announce(delivery, job.type, 'dead_letter', { deadLetterCode: code, error: err })
      if (job.track && this.#tracker) this.#tracker.failed(run, code, message, announce)
      else announce?.()
      const durationMs = this.#record(run, 'dead_letter')
      run.log.error({ err, durationMs, outcome: 'dead_letter', code }, 'job dead-lettered')
    } else {
      const outcome = err instanceof JobTimeoutError ? 'timeout' : 'retry'
      const retryInMs = backoffDelay(delivery.attempt, job.backoff, this.#random)
      this.#settle(delivery, delivery.retry(retryInMs))
      if (run.span) endAttemptSpan(run.span, { outcome, error: err, retryInMs })
      const announce = this.#announce(delivery, job.type, outcome, { retryInMs, error: err })
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
    this.#finish(run)
    this.#settle(run.delivery, run.delivery.ack())
    this.#tracker?.cancelled(run, this.#announce(run.delivery, run.type, 'cancelled'))
    run.log.info({ outcome: 'cancelled', durationMs: this.#clock.now() - run.startedAt }, 'job cancelled')
    this.#afterSlotFreed()
  }

  /**
   * Keeps long jobs' leases: every leaseMs/6 while jobs run, any job whose lease was last granted
   * leaseMs/3 ago or more gets leaseMs again. One timer for all jobs, none for jobs that finish quickly.
   */
  #sweepLeases(): void {
    this.#leaseSweep = undefined
    if (this.#runs.size === 0) return
    const { leaseMs } = this.settings
    const now = this.#clock.now()
    for (const run of this.#runs) {
      if (now - run.leasedAt < leaseMs / 3) continue
      run.leasedAt = now
      run.delivery
        .extendLease(leaseMs)
        .catch((err: unknown) => run.log.warn({ err }, 'could not extend lease'))
    }
    this.#leaseSweep = this.#clock.setTimer(() => this.#sweepLeases(), leaseMs / 6)
  }

  /** A handler that timed out (or was handed back) has finally returned; its result is ignored. */
  #returnedLate(run: JobRun): void {
    if (!run.abandoned) return
    run.abandoned = false
    this.#abandoned--
  }

  #finish(run: JobRun): void {
    run.finished = true
    this.#runs.delete(run)
    this.#running--
    if (run.timeout) this.#timeouts.cancel(run.timeout)
  }

  /** Counts the attempt in the metrics; returns how long it ran, in ms. */
  #record(run: JobRun, outcome: 'success' | 'retry' | 'timeout' | 'dead_letter'): number {
    const durationMs = this.#clock.now() - run.startedAt
    this.metrics.series(run.queue, run.type).record(outcome, durationMs / 1000)
    return durationMs
  }

  #settle(delivery: Delivery, settlement: Promise<void>): void {
    this.#pendingSettles++
    settlement.then(this.#onSettled, (err: unknown) => this.#onSettleFailed(delivery, err))
  }

  readonly #onSettled = (): void => this.#settleDone()

  #onSettleFailed(delivery: Delivery, err: unknown): void {
    this.metrics.settleErrors.inc({ queue: delivery.queue })
    this.#log.warn(
      { jobId: delivery.id, queue: delivery.queue, err },
      'settlement failed; the message will be redelivered',
    )
    this.#settleDone()
  }

  #settleDone(): void {
    this.#pendingSettles--
    this.#wakeIdle()
  }

  #afterSlotFreed(): void {
    this.#wakeIdle()
    if (this.#state === 'running') this.#pump()
  }

  #wakeIdle(): void {
    if (this.#running === 0 && this.#idleWaiters.length > 0)
      for (const wake of this.#idleWaiters.splice(0)) wake()
    if (this.#pendingSettles === 0 && this.#settledWaiters.length > 0) {
      for (const wake of this.#settledWaiters.splice(0)) wake()
    }
  }

  #emit(
    delivery: Delivery,
    type: string | undefined,
    outcome: JobOutcomeEvent['outcome'],
    extra: Partial<JobOutcomeEvent> = {},
  ): void {
    this.#announce(delivery, type, outcome, extra)?.()
  }

  /**
   * The outcome event, to tell listeners when called (the ledger calls it once it has recorded the
   * outcome, or given up on the write); undefined when nobody listens.
   */
  #announce(
    delivery: Delivery,
    type: string | undefined,
    outcome: JobOutcomeEvent['outcome'],
    extra: Partial<JobOutcomeEvent> = {},
  ): (() => void) | undefined {
    if (this.#listeners.length === 0) return undefined
    const event: JobOutcomeEvent = {
      id: delivery.id,
      type,
      queue: delivery.queue,
      attempt: delivery.attempt,
      outcome,
      ...extra,
    }
    return () => {
      for (const listener of this.#listeners) listener(event)
    }
  }
}
