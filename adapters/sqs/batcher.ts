import {
  DeleteMessageBatchCommand,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs'
import { LeaseLostError, QueueUnavailableError } from '../../src/errors.ts'
import { SQS_MAX_BATCH, SQS_MAX_BYTES } from './options.ts'

/**
 * Gathers single calls into batch requests: an item waits at most `flushMs` for company, and a batch
 * goes out as soon as it holds `maxItems` items or the next item would push it past `maxBytes`.
 * Each caller's promise settles with its own item's result.
 */
export interface BatcherOptions<T> {
  maxItems: number
  maxBytes: number
  flushMs: number
  sizeOf: (item: T) => number
  /** Sends one batch; resolves to one entry per item: undefined for success, or that item's error. */
  send: (items: T[]) => Promise<(Error | undefined)[]>
}

interface Pending<T> {
  item: T
  resolve: () => void
  reject: (err: unknown) => void
}

export class Batcher<T> {
  readonly #options: BatcherOptions<T>
  #pending: Pending<T>[] = []
  #bytes = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #inFlight = new Set<Promise<void>>()

  constructor(options: BatcherOptions<T>) {
    this.#options = options
  }

  add(item: T): Promise<void> {
    const size = this.#options.sizeOf(item)
    if (this.#pending.length > 0 && this.#bytes + size > this.#options.maxBytes) this.flush()
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject })
      this.#bytes += size
      if (this.#pending.length >= this.#options.maxItems) this.flush()
      else this.#timer ??= setTimeout(() => this.flush(), this.#options.flushMs)
    })
  }

  /** Sends what is waiting now. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    const batch = this.#pending
    if (batch.length === 0) return
    this.#pending = []
    this.#bytes = 0
    const sent = this.#options
      .send(batch.map((p) => p.item))
      .then(
        (results) => {
          batch.forEach((p, i) => {
            const err = results[i]
            if (err) p.reject(err)
            else p.resolve()
          })
        },
        (err: unknown) => {
          for (const p of batch) p.reject(err)
        },
      )
      .finally(() => this.#inFlight.delete(sent))
    this.#inFlight.add(sent)
  }

  /** Flushes and waits for every request under way. */
  async drain(): Promise<void> {
    this.flush()
    await Promise.all(this.#inFlight)
  }
}

export interface OutgoingMessage {
  body: string
  delaySeconds: number
  attributes?: Record<string, MessageAttributeValue>
}

type Deadline = () => { abortSignal: AbortSignal }

/** SendMessageBatch for one queue: 10 entries and 1 MiB per request; each entry's own failure is its own. */
export function sendBatcher(client: SQSClient, url: string, flushMs: number, deadline: Deadline) {
  return new Batcher<OutgoingMessage>({
    maxItems: SQS_MAX_BATCH,
    maxBytes: SQS_MAX_BYTES,
    flushMs,
    sizeOf: (m) => Buffer.byteLength(m.body) + (m.attributes ? 1024 : 0),
    send: async (items) => {
      const out = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: items.map((m, i) => ({
            Id: String(i),
            MessageBody: m.body,
            DelaySeconds: m.delaySeconds,
            MessageAttributes: m.attributes,
          })),
        }),
        deadline(),
      )
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]))
      return items.map((_, i) => {
        const f = failed.get(String(i))
        return f
          ? new QueueUnavailableError(`SQS refused a message: ${f.Code}: ${f.Message ?? ''}`)
          : undefined
      })
    },
  })
}

/**
 * DeleteMessageBatch for one queue. An entry SQS reports failed is LeaseLostError; note that a stale
 * receipt handle is not reported at all (SQS and fauxqs accept it and delete nothing), which is why
 * SqsQueue checks a delivery's lease before trusting a delete.
 */
export function deleteBatcher(client: SQSClient, url: string, flushMs: number, deadline: Deadline) {
  return new Batcher<string>({
    maxItems: SQS_MAX_BATCH,
    maxBytes: Number.POSITIVE_INFINITY,
    flushMs,
    sizeOf: () => 0,
    send: async (handles) => {
      const out = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: handles.map((h, i) => ({ Id: String(i), ReceiptHandle: h })),
        }),
        deadline(),
      )
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]))
      return handles.map((_, i) => {
        const f = failed.get(String(i))
        return f ? new LeaseLostError(`with receipt ${i} of the batch`, `${f.Code}`) : undefined
      })
    },
  })
}
