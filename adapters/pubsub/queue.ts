import { type Attributes, PubSub } from '@google-cloud/pubsub'
import type { Batcher } from '../../src/batcher.ts'
import { ClaimCheck, transmitEach } from '../../src/claim-check.ts'
import { type Clock, systemClock } from '../../src/clock.ts'
import { type DeadLetterSource, peekDeadLetters, redriveDeadLetters } from '../../src/dead-letter-browser.ts'
import {
  type DeadLetterInfo,
  type DeadLetterReason,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  tryDecodeEnvelope,
} from '../../src/envelope.ts'
import {
  ClaimCheckMissingError,
  LeaseLostError,
  MalformedMessageError,
  QueueClosedError,
  QueueUnavailableError,
} from '../../src/errors.ts'
import { createLogger, type Logger } from '../../src/logger.ts'
import { countGrpcRequests } from '../../src/provider-requests.ts'
import type {
  ConsumeOptions,
  Consumer,
  DeadLetter,
  Queue,
  QueueStats,
  RawSender,
  RedriveOptions,
  SendOptions,
} from '../../src/queue.ts'
import { reportSends } from '../../src/send-results.ts'
import { MAX_ACK_IDS, settleBatcher } from './batcher.ts'
import { PubSubConsumer } from './consumer.ts'
import { PubSubDelivery } from './delivery.ts'
import {
  DEAD_LETTER_ATTRIBUTE,
  PUBSUB_MAX_BYTES,
  type PubSubOptions,
  type PubSubRuntime,
  pubsubOptions,
} from './options.ts'
import { PubSubResources, type QueueNames } from './resources.ts'
import { type ReceivedMessage, refusesAckIds, UnaryCalls } from './unary.ts'

/**
 * The Google Cloud Pub/Sub backend: a topic per queue and a subscription per consumer group, publishing
 * through the client's batching, consuming by unary pull sized to the consumer's free buffer (see
 * PubSubConsumer), with acks and nacks batched per subscription. Delays and retry-afters of any length go through the queue's delay topic and relay; dead
 * letters to `<name>-dlq`, readable and redrivable through `<name>-dlq-sub`.
 */
export class PubSubQueue implements Queue, RawSender {
  readonly driver = 'pubsub'
  readonly options: PubSubOptions
  readonly client: PubSub
  readonly clock: Clock
  readonly log: Logger
  readonly #ownsClient: boolean
  readonly #unary: UnaryCalls
  readonly #resources: PubSubResources
  readonly #claims: ClaimCheck
  readonly #consumers = new Set<PubSubConsumer>()
  /** Acknowledge and ModifyAckDeadline-0 batchers, per subscription. */
  readonly #settlers = new Map<string, Record<'ack' | 'nack', Batcher<string>>>()
  #closed = false
  /** Set once close() has drained the batchers: nothing may settle after. */
  #clientClosed = false

  constructor(options: Partial<PubSubOptions> = {}, runtime: PubSubRuntime = {}) {
    this.options = pubsubOptions.parse('Pub/Sub queue options', options)
    this.#ownsClient = !runtime.client
    this.client =
      runtime.client ??
      new PubSub({
        ...(this.options.projectId ? { projectId: this.options.projectId } : {}),
        ...(this.options.apiEndpoint ? { apiEndpoint: this.options.apiEndpoint } : {}),
        ...countGrpcRequests('pubsub'),
      })
    this.clock = runtime.clock ?? systemClock
    this.log = runtime.logger ?? createLogger({ name: 'conveyor-pubsub' })
    this.#resources = new PubSubResources(this.client, this.options)
    this.#unary = new UnaryCalls(this.client, this.options.requestTimeoutMs)
    this.#claims = new ClaimCheck(runtime.claimStore, {
      thresholdBytes: this.options.claimCheckBytes,
      maxBytes: PUBSUB_MAX_BYTES,
      prefix: this.options.claimCheckPrefix,
      transport: 'Pub/Sub',
    })
  }

  /** Creates the queue's topics and subscriptions (idempotent); `npm run provision` calls this. */
  ensureQueue(queue: string): Promise<QueueNames> {
    return this.#resources.ensure(queue)
  }

  /** Forgets that the queue's resources are known to exist, so the next use checks (or creates) them again. */
  forget(queue: string): void {
    this.#resources.forget(queue)
  }

  names(queue: string): Promise<QueueNames> {
    if (this.#closed) return Promise.reject(new QueueClosedError('Pub/Sub queue'))
    return this.#resources.ready(queue)
  }

  async send(queue: string, envelope: Envelope, options: SendOptions = {}): Promise<void> {
    await this.#withDeadline(
      `send to "${queue}"`,
      this.#publishEnvelopes(queue, [envelope], options.delayMs ?? 0),
    )
  }

  async sendBatch(queue: string, envelopes: readonly Envelope[], options: SendOptions = {}): Promise<void> {
    await this.#withDeadline(
      `send to "${queue}"`,
      this.#publishEnvelopes(queue, envelopes, options.delayMs ?? 0),
    )
  }

  /**
   * Rejects with QueueUnavailableError when `work` has not settled within requestTimeoutMs (a stalled
   * network). The publish is bounded by the same deadline in the client, so it does not linger long.
   */
  #withDeadline<T>(what: string, work: Promise<T>): Promise<T> {
    const ms = this.options.requestTimeoutMs
    let timer: ReturnType<typeof setTimeout> | undefined
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`Pub/Sub did not answer the ${what} within ${ms} ms`)),
        ms,
      )
    })
    return Promise.race([work, expired]).finally(() => clearTimeout(timer))
  }

  async sendRaw(queue: string, body: string): Promise<void> {
    const names = await this.names(queue)
    await this.publishWire(names.topic, Buffer.from(body), {})
  }

  consume(queue: string, options: ConsumeOptions): Consumer {
    if (this.#closed) throw new QueueClosedError('Pub/Sub queue')
    const consumer = new PubSubConsumer(this, queue, options)
    this.#consumers.add(consumer)
    return consumer
  }

  /** Pub/Sub reports backlog only through Cloud Monitoring: what this process holds is all it knows. */
  async stats(queue: string): Promise<QueueStats> {
    await this.#withDeadline(`lookup of "${queue}"`, this.names(queue))
    let delayed = 0
    for (const c of this.#consumers) if (c.queue === queue) delayed += c.counts().delayed
    return { ready: null, inFlight: null, delayed, deadLettered: null }
  }

  async peekDeadLetters(queue: string, limit = 100): Promise<DeadLetter[]> {
    return peekDeadLetters(await this.#deadLetterSource(queue, Math.min(100, limit)), limit)
  }

  async redrive(queue: string, options: RedriveOptions = {}): Promise<number> {
    return redriveDeadLetters(await this.#deadLetterSource(queue, 100), this.#claims, queue, options)
  }

  /** The `-dlq-sub` subscription as the dead-letter tools see it. */
  async #deadLetterSource(queue: string, batch: number): Promise<DeadLetterSource<ReceivedMessage>> {
    const names = await this.names(queue)
    return {
      receive: () => this.pull(names.dlqSubscription, batch, 0),
      messageId: (m) => m.message!.messageId!,
      handle: (m) => m.ackId!,
      read: (m) => this.#readDeadLetter(queue, m),
      release: (ackIds) => this.release(names.dlqSubscription, ackIds),
      moveBack: async (m, body) => {
        await this.publishWire(names.topic, Buffer.from(body), {})
        await this.acknowledge(names.dlqSubscription, [m.ackId!])
      },
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#consumers].map((c) => c.close()))
    // Deliveries taken and never settled come back when their ack deadline runs out.
    await Promise.all(
      [...this.#settlers.values()].flatMap((s) =>
        [s.ack.drain(), s.nack.drain()].map((d) => d.catch(() => {})),
      ),
    )
    this.#clientClosed = true
    await this.#unary.close()
    if (this.#ownsClient) await this.client.close()
  }

  // Called by the consumer, delivery and relay.

  /**
   * Resolves the claim check and decodes; a message still early goes back to the delay topic. A
   * claim-checked body whose object is gone becomes a delivery the worker dead-letters.
   */
  async admit(
    queue: string,
    subscription: string,
    received: ReceivedMessage,
    leaseExpiresAt: number,
  ): Promise<PubSubDelivery | undefined> {
    const make = (decoded: ConstructorParameters<typeof PubSubDelivery>[4]) =>
      new PubSubDelivery(this, queue, subscription, received, decoded, leaseExpiresAt)
    const message = received.message!
    const data = Buffer.from(message.data as Uint8Array)
    let body: string
    let claimKey: string | undefined
    try {
      ;({ body, key: claimKey } = await this.#claims.unwrap(data.toString()))
    } catch (err) {
      if (err instanceof ClaimCheckMissingError) return make({ malformed: err })
      this.log.warn(
        { queue, err, messageId: message.messageId },
        'cannot read claim-checked body; nacking for redelivery',
      )
      await this.#settle(subscription, received.ackId!, 'nack').catch(() => undefined)
      return undefined
    }
    let envelope: Envelope
    try {
      envelope = decodeEnvelope(body, message.messageId!)
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err
      return make({ malformed: err })
    }
    if ((envelope.notBefore ?? 0) - this.clock.now() > 20) {
      const names = await this.#resources.ready(queue)
      await this.publishWire(names.delayTopic, data, message.attributes ?? {})
      await this.#settle(subscription, received.ackId!, 'ack').catch(() => undefined)
      return undefined
    }
    return make({ envelope, claimKey })
  }

  async acknowledgeDelivery(delivery: PubSubDelivery): Promise<void> {
    await this.#finish(delivery, 'ack')
    await this.#claims.release(delivery.claimKey)
  }

  /**
   * Hands a delivery back unrun without spending an attempt: a copy carrying the same attempt number
   * replaces it (deliveryAttempt starts again). Not an envelope: a nack.
   */
  async releaseDelivery(delivery: PubSubDelivery): Promise<void> {
    if (!delivery.envelope) return this.#finish(delivery, 'nack')
    this.#assertLeased(delivery) // a copy of a message someone else now holds would run twice
    const names = await this.#resources.ready(delivery.queue)
    const envelope = { ...delivery.envelope, attempt: delivery.attempt }
    const wire = await this.#claims.wrap(delivery.queue, envelope.id, encodeEnvelope(envelope))
    await this.publishWire(names.topic, Buffer.from(wire.body), {})
    await this.#finish(delivery, 'ack')
  }

  /** ModifyAckDeadline for one delivery. An ack id the service refuses means the lease is gone. */
  async extendDelivery(delivery: PubSubDelivery, ms: number): Promise<void> {
    try {
      await this.#unary.modifyAckDeadline(delivery.subscription, [delivery.ackId], leaseSeconds(ms))
    } catch (err) {
      if (refusesAckIds(err)) throw new LeaseLostError(delivery.id, (err as Error).message, { cause: err })
      throw err
    }
  }

  /**
   * ModifyAckDeadline for many deliveries of one subscription (a consumer's buffer); resolves to those
   * whose lease is gone. One ack id the service refuses fails a whole request, so a refused request is
   * tried again id by id.
   */
  async extendDeliveries(
    subscription: string,
    deliveries: readonly PubSubDelivery[],
    ms: number,
  ): Promise<PubSubDelivery[]> {
    const lost: PubSubDelivery[] = []
    for (let i = 0; i < deliveries.length; i += MAX_ACK_IDS) {
      const chunk = deliveries.slice(i, i + MAX_ACK_IDS)
      try {
        await this.#unary.modifyAckDeadline(
          subscription,
          chunk.map((d) => d.ackId),
          leaseSeconds(ms),
        )
      } catch (err) {
        if (!refusesAckIds(err)) throw err
        for (const d of chunk) {
          await this.extendDelivery(d, ms).catch((e: unknown) => {
            if (e instanceof LeaseLostError) lost.push(d)
            else throw e
          })
        }
      }
    }
    return lost
  }

  /** 0 ms: nack (redelivered at once, deliveryAttempt + 1). Later: the next attempt waits in the delay topic. */
  async retryDelivery(delivery: PubSubDelivery, delayMs: number): Promise<void> {
    if (delayMs <= 0) {
      await this.#finish(delivery, 'nack')
      return
    }
    this.#assertLeased(delivery)
    const names = await this.#resources.ready(delivery.queue)
    const envelope = {
      ...delivery.envelope!,
      attempt: delivery.attempt + 1,
      notBefore: this.clock.now() + delayMs,
    }
    const wire = await this.#claims.wrap(delivery.queue, envelope.id, encodeEnvelope(envelope))
    await this.publishWire(names.delayTopic, Buffer.from(wire.body), {})
    await this.#finish(delivery, 'ack')
  }

  async deadLetterDelivery(delivery: PubSubDelivery, reason: DeadLetterReason): Promise<void> {
    this.#assertLeased(delivery)
    const names = await this.#resources.ready(delivery.queue)
    const info: DeadLetterInfo = {
      ...reason,
      queue: delivery.queue,
      attempts: delivery.attempt,
      at: this.clock.now(),
    }
    await this.publishWire(names.dlqTopic, Buffer.from(delivery.received.message!.data as Uint8Array), {
      [DEAD_LETTER_ATTRIBUTE]: JSON.stringify(info),
    })
    await this.#finish(delivery, 'ack')
  }

  /**
   * Acks or nacks. The service accepts an ack id whose deadline passed (and the message may be someone
   * else's by then), so the lease is checked again when the request has returned: one that ran out by
   * then is reported lost, not success, even though the request may have worked.
   */
  async #finish(delivery: PubSubDelivery, how: 'ack' | 'nack'): Promise<void> {
    // A late ack is still sent: if the message has not gone out again yet, it is not run twice.
    if (how === 'nack') this.#assertLeased(delivery)
    await this.#settle(delivery.subscription, delivery.ackId, how).catch((err: unknown) => {
      if (!(err instanceof LeaseLostError)) throw err
      throw new LeaseLostError(delivery.id, 'the service no longer knows its ack id', { cause: err })
    })
    this.#assertLeased(delivery)
  }

  #assertLeased(delivery: PubSubDelivery): void {
    if (this.clock.now() >= delivery.leaseExpiresAt)
      throw new LeaseLostError(delivery.id, 'its ack deadline had run out; it may run again')
  }

  /** Acks or nacks through the subscription's batcher (see settleBatcher). */
  #settle(subscription: string, ackId: string, how: 'ack' | 'nack'): Promise<void> {
    if (this.#clientClosed) return Promise.reject(new QueueClosedError('Pub/Sub queue'))
    let settlers = this.#settlers.get(subscription)
    if (!settlers) {
      const flushMs = this.options.batchFlushMs
      settlers = {
        ack: settleBatcher(this.#unary, subscription, 'ack', flushMs),
        nack: settleBatcher(this.#unary, subscription, 'nack', flushMs),
      }
      this.#settlers.set(subscription, settlers)
    }
    return settlers[how].add(ackId)
  }

  publishWire(topic: string, data: Buffer, attributes: Attributes): Promise<string> {
    return this.#resources.topic(topic).publishMessage({ data, attributes })
  }

  /** Pulls up to `maxMessages`, waiting up to `waitMs` for some (see UnaryCalls.pull). */
  pull(subscription: string, maxMessages: number, waitMs: number): Promise<ReceivedMessage[]> {
    return this.#unary.pull(subscription, maxMessages, waitMs)
  }

  acknowledge(subscription: string, ackIds: string[]): Promise<void> {
    return this.#unary.acknowledge(subscription, ackIds)
  }

  /** Makes pulled messages available again at once. */
  release(subscription: string, ackIds: string[]): Promise<void> {
    return this.#unary.modifyAckDeadline(subscription, ackIds, 0)
  }

  /** The notBefore of a message in the delay topic (0 when it has none or cannot be read). */
  async notBeforeOf(m: ReceivedMessage): Promise<number> {
    try {
      const { body } = await this.#claims.unwrap(Buffer.from(m.message!.data as Uint8Array).toString())
      return decodeEnvelope(body).notBefore ?? 0
    } catch {
      return 0
    }
  }

  async #publishEnvelopes(queue: string, envelopes: readonly Envelope[], delayMs: number): Promise<void> {
    try {
      await this.#publishOnce(queue, envelopes, delayMs)
    } catch (err) {
      // With autoCreate, resources that vanished (a restarted emulator, a deleted topic) are made again.
      if (!this.options.autoCreate || !isNotFound(err)) throw err
      this.log.warn({ queue }, 'Pub/Sub topic not found; creating the queue resources again')
      this.#resources.forget(queue)
      await this.#publishOnce(queue, envelopes, delayMs)
    }
  }

  async #publishOnce(queue: string, envelopes: readonly Envelope[], delayMs: number): Promise<void> {
    const names = await this.names(queue)
    const topic = delayMs > 0 ? names.delayTopic : names.topic
    const sends = await transmitEach(
      this.#claims,
      queue,
      envelopes,
      (i) => encodeEnvelope(envelopes[i]!),
      (body) => this.publishWire(topic, Buffer.from(body), {}),
    )
    // A topic that vanished surfaces as itself, so #publishEnvelopes can make it again and retry.
    await reportSends(queue, `Pub/Sub topic "${names.topic}"`, envelopes, sends, isNotFound)
  }

  async #readDeadLetter(queue: string, m: ReceivedMessage): Promise<DeadLetter> {
    const raw = Buffer.from(m.message!.data as Uint8Array).toString()
    const { body } = await this.#claims.unwrap(raw).catch(() => ({ body: raw }))
    const envelope = tryDecodeEnvelope(body)
    const attributes = m.message!.attributes ?? {}
    const stored = attributes[DEAD_LETTER_ATTRIBUTE]
    const published = m.message!.publishTime?.seconds ? Number(m.message!.publishTime.seconds) * 1000 : 0
    const info: DeadLetterInfo = stored
      ? (JSON.parse(stored) as DeadLetterInfo)
      : {
          code: 'receive_limit',
          message: `moved by the subscription's dead-letter policy after ${this.options.maxDeliveryAttempts} delivery attempts`,
          queue,
          attempts: Number(
            attributes.CloudPubSubDeadLetterSourceDeliveryCount ?? this.options.maxDeliveryAttempts,
          ),
          at: published,
        }
    return { id: envelope?.id ?? m.message!.messageId!, envelope, body, info }
  }
}

const NOT_FOUND = 5

function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === NOT_FOUND
}

/** Pub/Sub takes whole seconds, 0-600. */
function leaseSeconds(ms: number): number {
  return Math.min(600, Math.ceil(ms / 1000))
}
