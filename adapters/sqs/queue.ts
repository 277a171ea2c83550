import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs'
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
} from '../../src/errors.ts'
import { createLogger, type Logger } from '../../src/logger.ts'
import { countAwsRequests } from '../../src/provider-requests.ts'
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
import { deleteBatcher, type OutgoingMessage, sendBatcher } from './batcher.ts'
import { SqsConsumer } from './consumer.ts'
import { SqsDelivery } from './delivery.ts'
import { SQS_MAX_BATCH, SQS_MAX_BYTES, type SqsOptions, type SqsRuntime, sqsOptions } from './options.ts'
import { type QueueUrls, SqsResources } from './resources.ts'

const DEAD_LETTER_ATTRIBUTE = 'conveyor-dead-letter'

/**
 * The SQS backend. Sends and acks are batched (10 entries, byte-limited, a short flush window);
 * receives long-poll with as many concurrent calls as the prefetch needs; retry-after is
 * ChangeMessageVisibility; delays past SQS's cap re-send a copy; large bodies go through a claim check.
 */
export class SqsQueue implements Queue, RawSender {
  readonly driver = 'sqs'
  readonly options: SqsOptions
  readonly client: SQSClient
  readonly log: Logger
  readonly #ownsClient: boolean
  readonly #clock: Clock
  readonly #resources: SqsResources
  readonly #claims: ClaimCheck
  readonly #senders = new Map<string, Batcher<OutgoingMessage>>()
  readonly #deleters = new Map<string, Batcher<string>>()
  readonly #consumers = new Set<SqsConsumer>()
  #closed = false

  constructor(options: Partial<SqsOptions> = {}, runtime: SqsRuntime = {}) {
    this.options = sqsOptions.parse('SQS queue options', options)
    this.#ownsClient = !runtime.client
    this.client = countAwsRequests(
      runtime.client ??
        new SQSClient({
          ...(this.options.region ? { region: this.options.region } : {}),
          ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
          // A stalled network fails fast: no call waits longer than its deadline (see deadline()).
          requestHandler: {
            connectionTimeout: this.options.requestTimeoutMs,
            requestTimeout: this.options.waitTimeSeconds * 1000 + this.options.requestTimeoutMs,
          },
        }),
      'sqs',
    )
    this.log = runtime.logger ?? createLogger({ name: 'conveyor-sqs' })
    this.#clock = runtime.clock ?? systemClock
    this.#resources = new SqsResources(this.client, this.options)
    this.#claims = new ClaimCheck(runtime.claimStore, {
      thresholdBytes: this.options.claimCheckBytes,
      maxBytes: SQS_MAX_BYTES,
      prefix: this.options.claimCheckPrefix,
      transport: 'SQS',
    })
  }

  /** Send options that abort an SQS call after `ms` (default requestTimeoutMs), retries included. */
  deadline(ms = this.options.requestTimeoutMs): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(ms) }
  }

  now(): number {
    return this.#clock.now()
  }

  /** Creates the queue and its DLQ (idempotent); `npm run provision` calls this. */
  ensureQueue(queue: string): Promise<QueueUrls> {
    return this.#resources.ensure(queue)
  }

  urls(queue: string): Promise<QueueUrls> {
    if (this.#closed) return Promise.reject(new QueueClosedError('SQS queue'))
    return this.#resources.urls(queue)
  }

  async send(queue: string, envelope: Envelope, options: SendOptions = {}): Promise<void> {
    await this.#sendEnvelopes(queue, [envelope], options.delayMs ?? 0)
  }

  async sendBatch(queue: string, envelopes: readonly Envelope[], options: SendOptions = {}): Promise<void> {
    await this.#sendEnvelopes(queue, envelopes, options.delayMs ?? 0)
  }

  async sendRaw(queue: string, body: string): Promise<void> {
    const { url } = await this.urls(queue)
    await this.#sender(url).add({ body, delaySeconds: 0 })
  }

  consume(queue: string, options: ConsumeOptions): Consumer {
    if (this.#closed) throw new QueueClosedError('SQS queue')
    const consumer = new SqsConsumer(this, queue, options, options.leaseMs ?? this.options.leaseMs)
    this.#consumers.add(consumer)
    return consumer
  }

  async stats(queue: string): Promise<QueueStats> {
    const { url, dlqUrl } = await this.urls(queue)
    const names = [
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesDelayed',
    ] as const
    const [main, dlq] = await Promise.all(
      [url, dlqUrl].map((QueueUrl) =>
        this.client.send(
          new GetQueueAttributesCommand({ QueueUrl, AttributeNames: [...names] }),
          this.deadline(),
        ),
      ),
    )
    const n = (attrs: Record<string, string> | undefined, name: string) => Number(attrs?.[name] ?? 0)
    return {
      ready: n(main!.Attributes, names[0]),
      inFlight: n(main!.Attributes, names[1]),
      delayed: n(main!.Attributes, names[2]),
      deadLettered: n(dlq!.Attributes, names[0]) + n(dlq!.Attributes, names[1]),
    }
  }

  async peekDeadLetters(queue: string, limit = 100): Promise<DeadLetter[]> {
    return peekDeadLetters(await this.#deadLetterSource(queue), limit)
  }

  async redrive(queue: string, options: RedriveOptions = {}): Promise<number> {
    return redriveDeadLetters(await this.#deadLetterSource(queue), this.#claims, queue, options)
  }

  /** The DLQ as the dead-letter tools see it: receives hide messages 5 s (30 s to move them). */
  async #deadLetterSource(queue: string): Promise<DeadLetterSource<Message>> {
    const { url, dlqUrl } = await this.urls(queue)
    return {
      receive: (forRedrive) => this.#receiveAll(dlqUrl, forRedrive ? 30 : 5),
      messageId: (m) => m.MessageId!,
      handle: (m) => m.ReceiptHandle!,
      read: (m) => this.#readDeadLetter(queue, m),
      release: async (handles) => {
        await Promise.all(handles.map((h) => this.#changeVisibility(dlqUrl, h, 0).catch(() => undefined)))
      },
      moveBack: async (m, body) => {
        await this.#sender(url).add({ body, delaySeconds: 0 })
        await this.#deleter(dlqUrl).add(m.ReceiptHandle!)
      },
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#consumers].map((c) => c.close()))
    await Promise.all(
      [...this.#senders.values(), ...this.#deleters.values()].map((b) => b.drain().catch(() => undefined)),
    )
    if (this.#ownsClient) this.client.destroy()
  }

  // Called by SqsConsumer and SqsDelivery.

  /**
   * Turns a received message into a delivery, or handles it here and returns undefined: a message held
   * for a delay longer than SQS allows goes back as a fresh copy (so waiting is not a receive). A
   * claim-checked body whose object is gone becomes a delivery the worker dead-letters.
   */
  async admit(
    queue: string,
    urls: QueueUrls,
    message: Message,
    leaseExpiresAt: number,
  ): Promise<SqsDelivery | undefined> {
    let body: string
    let claimKey: string | undefined
    try {
      ;({ body, key: claimKey } = await this.#claims.unwrap(message.Body ?? ''))
    } catch (err) {
      if (err instanceof ClaimCheckMissingError) {
        return new SqsDelivery(this, queue, urls, message, { malformed: err }, leaseExpiresAt)
      }
      this.log.warn(
        { queue, err, messageId: message.MessageId },
        'cannot read claim-checked body; leaving the message for redelivery',
      )
      return undefined
    }
    let envelope: Envelope | undefined
    try {
      envelope = decodeEnvelope(body, message.MessageId)
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err
      return new SqsDelivery(this, queue, urls, message, { malformed: err }, leaseExpiresAt)
    }
    const remaining = (envelope.notBefore ?? 0) - this.#clock.now()
    if (remaining > 20) {
      await this.#sender(urls.url).add({ body: message.Body!, delaySeconds: this.#nativeDelay(remaining) })
      await this.#deleter(urls.url).add(message.ReceiptHandle!)
      return undefined
    }
    return new SqsDelivery(this, queue, urls, message, { envelope, claimKey }, leaseExpiresAt)
  }

  /**
   * DeleteMessage succeeds silently with a stale receipt handle (on SQS and fauxqs alike) and then
   * deletes nothing: a delete after the lease ran out is still sent (it may work) but reported as lost,
   * and so is one that returned after the lease ran out (it may have arrived too late).
   */
  async acknowledge(delivery: SqsDelivery): Promise<void> {
    await this.#deleter(delivery.urls.url).add(delivery.message.ReceiptHandle!)
    if (this.#clock.now() >= delivery.leaseExpiresAt)
      throw new LeaseLostError(delivery.id, 'its receipt was stale when deleted; it may run again')
    await this.#claims.release(delivery.claimKey)
  }

  /** Sets the visibility from now; a success moves the delivery's lease on. */
  async changeVisibility(delivery: SqsDelivery, seconds: number): Promise<void> {
    const at = this.#clock.now()
    this.#assertLeased(delivery, at)
    await this.#changeVisibility(delivery.urls.url, delivery.message.ReceiptHandle!, seconds, delivery.id)
    delivery.leaseExpiresAt = at + seconds * 1000
  }

  /**
   * Hands a delivery back unrun without spending an attempt: a copy carrying the same attempt number
   * replaces it (the broker's receive count starts again). Too close to the end of its lease to do that
   * safely (the copy and the original could both run), or not an envelope: visibility 0.
   */
  async release(delivery: SqsDelivery): Promise<void> {
    const safeMs = 2 * this.options.requestTimeoutMs
    if (!delivery.envelope || delivery.leaseExpiresAt - this.#clock.now() < safeMs) {
      return this.changeVisibility(delivery, 0)
    }
    await this.resendLater(delivery, 0, delivery.attempt)
  }

  /** Sends a copy of the delivery carrying `attempt` that waits `delayMs`, then deletes this one. */
  async resendLater(delivery: SqsDelivery, delayMs: number, attempt: number): Promise<void> {
    this.#assertLeased(delivery, this.#clock.now())
    const envelope = {
      ...delivery.envelope!,
      attempt,
      ...(delayMs > 0 ? { notBefore: this.#clock.now() + delayMs } : {}),
    }
    const wire = await this.#claims.wrap(delivery.queue, envelope.id, encodeEnvelope(envelope))
    await this.#sender(delivery.urls.url).add({ body: wire.body, delaySeconds: this.#nativeDelay(delayMs) })
    await this.#deleter(delivery.urls.url).add(delivery.message.ReceiptHandle!)
  }

  #assertLeased(delivery: SqsDelivery, now: number): void {
    if (now >= delivery.leaseExpiresAt)
      throw new LeaseLostError(delivery.id, 'its visibility timeout ran out')
  }

  async moveToDeadLetters(delivery: SqsDelivery, reason: DeadLetterReason): Promise<void> {
    this.#assertLeased(delivery, this.#clock.now())
    const info: DeadLetterInfo = {
      ...reason,
      queue: delivery.queue,
      attempts: delivery.attempt,
      at: this.#clock.now(),
    }
    await this.#sender(delivery.urls.dlqUrl).add({
      body: delivery.message.Body ?? '',
      delaySeconds: 0,
      attributes: { [DEAD_LETTER_ATTRIBUTE]: { DataType: 'String', StringValue: JSON.stringify(info) } },
    })
    // The claim-checked body, if any, stays with the dead letter until it is redriven and acked.
    await this.#deleter(delivery.urls.url).add(delivery.message.ReceiptHandle!)
  }

  #nativeDelay(delayMs: number): number {
    return delayMs <= 0 ? 0 : Math.min(this.options.maxDelaySeconds, Math.ceil(delayMs / 1000))
  }

  async #sendEnvelopes(queue: string, envelopes: readonly Envelope[], delayMs: number): Promise<void> {
    const { url } = await this.urls(queue)
    const sender = this.#sender(url)
    const delaySeconds = this.#nativeDelay(delayMs)
    const sends = await transmitEach(
      this.#claims,
      queue,
      envelopes,
      (i) => encodeEnvelope(envelopes[i]!),
      (body) => sender.add({ body, delaySeconds }),
    )
    sender.flush() // every send is queued: send the last partial batch now rather than after the window
    await reportSends(queue, `SQS queue "${queue}"`, envelopes, sends)
  }

  async #receiveAll(url: string, visibilitySeconds: number): Promise<Message[]> {
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: SQS_MAX_BATCH,
        WaitTimeSeconds: 0,
        VisibilityTimeout: visibilitySeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        MessageAttributeNames: ['All'],
      }),
      this.deadline(),
    )
    return out.Messages ?? []
  }

  async #readDeadLetter(queue: string, m: Message): Promise<DeadLetter> {
    const { body } = await this.#claims.unwrap(m.Body ?? '').catch(() => ({ body: m.Body ?? '' }))
    const envelope = tryDecodeEnvelope(body)
    const stored = m.MessageAttributes?.[DEAD_LETTER_ATTRIBUTE]?.StringValue
    const info: DeadLetterInfo = stored
      ? (JSON.parse(stored) as DeadLetterInfo)
      : {
          code: 'receive_limit',
          message: `moved by the queue's RedrivePolicy after ${this.options.maxReceiveCount} receives (the worker crashed or never settled it)`,
          queue,
          attempts: this.options.maxReceiveCount,
          at: Number(m.Attributes?.SentTimestamp ?? 0),
        }
    return { id: envelope?.id ?? m.MessageId!, envelope, body, info }
  }

  async #changeVisibility(url: string, handle: string, seconds: number, messageId?: string): Promise<void> {
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: handle,
          VisibilityTimeout: seconds,
        }),
        this.deadline(),
      )
    } catch (err) {
      if (isLostReceipt(err))
        throw new LeaseLostError(messageId ?? 'unknown', (err as Error).name, { cause: err })
      throw err
    }
  }

  #sender(url: string): Batcher<OutgoingMessage> {
    let sender = this.#senders.get(url)
    if (!sender) {
      sender = sendBatcher(this.client, url, this.options.batchFlushMs, () => this.deadline())
      this.#senders.set(url, sender)
    }
    return sender
  }

  #deleter(url: string): Batcher<string> {
    let deleter = this.#deleters.get(url)
    if (!deleter) {
      deleter = deleteBatcher(this.client, url, this.options.batchFlushMs, () => this.deadline())
      this.#deleters.set(url, deleter)
    }
    return deleter
  }
}

/** SQS's (and fauxqs's) ways of saying a receipt handle no longer holds the message. */
function isLostReceipt(err: unknown): boolean {
  const e = err as { name?: string; message?: string }
  return (
    e.name === 'ReceiptHandleIsInvalid' ||
    e.name === 'MessageNotInflight' ||
    /receipt ?handle|not available for visibility/i.test(e.message ?? '')
  )
}
