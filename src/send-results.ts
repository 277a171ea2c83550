import type { Envelope } from './envelope.ts'
import { ConveyorError, QueueUnavailableError, SendBatchError } from './errors.ts'

/**
 * Waits for one send per envelope and reports failure the same way on every transport: a single
 * envelope rejects with its ConveyorError (or QueueUnavailableError naming `where`); a batch rejects with
 * SendBatchError listing the ids that were not sent. `rethrow(cause)` lets a transport get the raw
 * error when every send failed with it (Pub/Sub re-creates a vanished topic and tries again).
 */
export async function reportSends(
  queue: string,
  where: string,
  envelopes: readonly Envelope[],
  sends: readonly Promise<unknown>[],
  rethrow: (cause: unknown) => boolean = () => false,
): Promise<void> {
  const results = await Promise.allSettled(sends)
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ id: envelopes[i]!.id, err: r.reason as unknown }] : [],
  )
  if (failed.length === 0) return
  const cause = failed[0]!.err
  if (failed.length === envelopes.length && rethrow(cause)) throw cause
  if (envelopes.length === 1) {
    if (cause instanceof ConveyorError) throw cause
    throw new QueueUnavailableError(`could not send to ${where}: ${(cause as Error).message}`, {
      cause,
      messageId: envelopes[0]!.id,
    })
  }
  throw new SendBatchError(
    queue,
    failed.map((f) => f.id),
    { cause },
  )
}
