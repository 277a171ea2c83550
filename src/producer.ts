import type { Static, TSchema } from 'typebox'
import { type Clock, systemClock } from './clock.ts'
import { createEnvelope, type Envelope } from './envelope.ts'
import { InvalidPayloadError, UnknownJobTypeError } from './errors.ts'
import type { JobDefinition } from './job.ts'
import type { Metrics } from './metrics.ts'
import type { Queue } from './queue.ts'
import type { JobRegistry } from './registry.ts'
import { traceSend } from './tracing.ts'

export interface EnqueueOptions {
  /** Hold the job back this long (any length; see Queue.send). Default 0. */
  delayMs?: number
  traceparent?: string
  correlationId?: string
}

export interface ProducerOptions {
  queue: Queue
  /** Lets `enqueue` take a type name instead of a definition (the HTTP API does). */
  registry?: JobRegistry
  metrics?: Metrics
  clock?: Clock
}

/**
 * Enqueues jobs: checks the payload against the job's schema (a bad one throws InvalidPayloadError and
 * nothing is sent), wraps it in an envelope and sends it to the job's queue.
 */
export class Producer {
  readonly #queue: Queue
  readonly #registry: JobRegistry | undefined
  readonly #metrics: Metrics | undefined
  readonly #clock: Clock

  constructor(options: ProducerOptions) {
    this.#queue = options.queue
    this.#registry = options.registry
    this.#metrics = options.metrics
    this.#clock = options.clock ?? systemClock
  }

  /** Resolves to the envelope sent; its `id` is the job id. */
  async enqueue<S extends TSchema>(
    job: JobDefinition<S> | string,
    payload: Static<S>,
    options: EnqueueOptions = {},
  ): Promise<Envelope<Static<S>>> {
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
      return createEnvelope({ type: def.type, payload, maxAttempts: def.maxAttempts, now, ...options })
    })
    const sendOptions = options.delayMs ? { delayMs: options.delayMs } : {}
    await traceSend(def.queue, def.type, envelopes, () =>
      envelopes.length === 1
        ? this.#queue.send(def.queue, envelopes[0]!, sendOptions)
        : this.#queue.sendBatch(def.queue, envelopes, sendOptions),
    )
    if (this.#metrics) this.#metrics.series(def.queue, def.type).enqueued += envelopes.length
    return envelopes as Envelope<Static<S>>[]
  }

  #resolve<S extends TSchema>(job: JobDefinition<S> | string): JobDefinition<S> {
    if (typeof job !== 'string') return job
    const def = this.#registry?.get(job)
    if (!def) throw new UnknownJobTypeError(job)
    return def as unknown as JobDefinition<S>
  }
}
