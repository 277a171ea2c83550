import {
  DeleteMessageBatchCommand,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs'
import { Batcher } from '../../src/batcher.ts'
import { LeaseLostError, QueueUnavailableError } from '../../src/errors.ts'
import { SQS_MAX_BATCH, SQS_MAX_BYTES } from './options.ts'

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
