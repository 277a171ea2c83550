import type { Static, TSchema } from 'typebox'
import { type Clock, systemClock } from './clock.ts'
import { createEnvelope, type Envelope } from './envelope.ts'
import { InvalidPayloadError, SendBatchError, UnknownJobTypeError } from './errors.ts'
import type { JobDefinition } from './job.ts'
import { bodyHash, DEFAULT_KEY_TTL_MS, enqueueOnce } from './ledger/idempotency.ts'
import type { JobLedger } from './ledger/ledger.ts'
import type { Metrics } from './metrics.ts'
import type { Queue } from './queue.ts'
import type { JobRegistry } from './registry.ts'
import type { NewJobRecord } from './store/job-store.ts'
import { traceSend } from './tracing.ts'

export interface EnqueueOptions {
  /** Hold the job back this long (any length; see Queue.send). Default 0. */
  delayMs?: number
  traceparent?: string
  correlationId?: string
  /** Who asks for the job (a user id); kept on its ledger record, which only they (or an admin) may read. */
  owner?: string
  /**
   * Idempotency key: the same key within `keyTtlMs` returns the first job's id and sends nothing; the
   * same key with another payload throws IdempotencyConflictError. Needs the ledger (see enqueueOnce).
   * `enqueue` only.
   */
  key?: string
  /** How long the key holds. Default 24 h. */
  keyTtlMs?: number
}

export interface ProducerOptions {
  queue: Queue
  /** Lets `enqueue` take a type name instead of a definition (the HTTP API does). */
  registry?: JobRegistry
  metrics?: Metrics
  clock?: Clock
  /** The job ledger: each tracked job is recorded (`queued` / `delayed`) before it is sent. Default none. */
  ledger?: JobLedger
}

/**
 * Enqueues jobs: checks the payload against the job's schema (a bad one throws InvalidPayloadError and
 * nothing is sent), wraps it in an envelope, records it in the ledger (best effort: a store outage never
 * stops a send) and sends it to the job's queue.
 */
export class Producer {
  readonly #queue: Queue
  readonly #registry: JobRegistry | undefined
  readonly #metrics: Metrics | undefined
  readonly #clock: Clock
  readonly #ledger: JobLedger | undefined

  constructor(options: ProducerOptions) {
    this.#queue = options.queue
    this.#registry = options.registry
    this.#metrics = options.metrics
    this.#clock = options.clock ?? systemClock
    this.#ledger = options.ledger
  }

  /** The ledger jobs are recorded in, if any. */
  get ledger(): JobLedger | undefined {
    return this.#ledger
  }

  /** Resolves to the envelope sent; its `id` is the job id. */
  async enqueue<S extends TSchema>(
    job: JobDefinition<S> | string,
    payload: Static<S>,
    options: EnqueueOptions = {},
  ): Promise<Envelope<Static<S>>> {
    if (options.key !== undefined) return this.#enqueueOnce(this.#resolve(job), payload, options)
    const [envelope] = await this.enqueueMany(job, [payload], options)
    return envelope!
  }

  /** Enqueues several payloads of one type in as few requests as the backend allows. */
  async enqueueMany<S extends TSchema>(
    job: JobDefinition<S> | string,
    payloads: readonly Static<S>[],
    options: EnqueueOptions = {},
  ): Promise<Envelope<Static<S>>[]> {
    const def = this.#resolve(job)
    const now = this.#clock.now()
    const envelopes = payloads.map((payload) => {
      const problems = def.validate(payload)
      if (problems.length > 0) throw new InvalidPayloadError(def.type, problems)
      return createEnvelope({
        type: def.type,
        payload,
        maxAttempts: def.maxAttempts,
        now,
        delayMs: options.delayMs,
        traceparent: options.traceparent,
        correlationId: options.correlationId,
      })
    })
    const sendOptions = options.delayMs ? { delayMs: options.delayMs } : {}
    const ledger = def.track ? this.#ledger : undefined
    if (ledger) await ledger.created(envelopes.map((e) => this.#record(def, e.id, now, options)))
    try {
      await traceSend(def.queue, def.type, envelopes, () =>
        envelopes.length === 1
          ? this.#queue.send(def.queue, envelopes[0]!, sendOptions)
          : this.#queue.sendBatch(def.queue, envelopes, sendOptions),
      )
    } catch (err) {
      if (ledger) {
        const ids = err instanceof SendBatchError ? err.failedIds : envelopes.map((e) => e.id)
        for (const id of ids) this.#sendFailed(ledger, id, err)
      }
      throw err
    }
    if (this.#metrics) this.#metrics.series(def.queue, def.type).enqueued += envelopes.length
    return envelopes as Envelope<Static<S>>[]
  }

  async #enqueueOnce<S extends TSchema>(
    def: JobDefinition<S>,
    payload: Static<S>,
    options: EnqueueOptions,
  ): Promise<Envelope<Static<S>>> {
    if (!this.#ledger) throw new TypeError('enqueue with a key needs a Producer with a ledger (a job store)')
    const ledger = this.#ledger
    const problems = def.validate(payload)
    if (problems.length > 0) throw new InvalidPayloadError(def.type, problems)
    const now = this.#clock.now()
    const envelope = createEnvelope({
      type: def.type,
      payload,
      maxAttempts: def.maxAttempts,
      now,
      ...options,
    })
    const sendOptions = options.delayMs ? { delayMs: options.delayMs } : {}
    const outcome = await enqueueOnce(ledger.store, {
      key: options.key!,
      ttlMs: options.keyTtlMs ?? DEFAULT_KEY_TTL_MS,
      hash: bodyHash([def.type, payload, options.delayMs ?? 0, options.owner ?? null]),
      envelope,
      record: def.track ? this.#record(def, envelope.id, now, options) : undefined,
      send: (e) => traceSend(def.queue, def.type, [e], () => this.#queue.send(def.queue, e, sendOptions)),
      onSendFailed: (id, err) => this.#sendFailed(ledger, id, err),
      now,
    })
    if (!outcome.duplicate && this.#metrics) this.#metrics.series(def.queue, def.type).enqueued++
    return { ...envelope, id: outcome.id, enqueuedAt: outcome.enqueuedAt } as Envelope<Static<S>>
  }

  #record(def: JobDefinition, id: string, now: number, options: EnqueueOptions): NewJobRecord {
    const record: NewJobRecord = {
      id,
      type: def.type,
      queue: def.queue,
      maxAttempts: def.maxAttempts,
      createdAt: now,
    }
    if (options.owner !== undefined) record.owner = options.owner
    if (options.delayMs) record.runAt = now + options.delayMs
    return record
  }

  /** The record of a job that was never sent says so, instead of `queued` forever. */
  #sendFailed(ledger: JobLedger, id: string, err: unknown): void {
    ledger.failed(id, 0, {
      code: 'ENQUEUE_FAILED',
      message: `the queue did not accept the job: ${(err as Error)?.message ?? String(err)}`,
    })
  }

  #resolve<S extends TSchema>(job: JobDefinition<S> | string): JobDefinition<S> {
    if (typeof job !== 'string') return job
    const def = this.#registry?.get(job)
    if (!def) throw new UnknownJobTypeError(job)
    return def as unknown as JobDefinition<S>
  }
}
