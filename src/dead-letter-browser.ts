import type { ClaimCheck } from './claim-check.ts'
import { encodeEnvelope, freshCopy } from './envelope.ts'
import type { DeadLetter, RedriveOptions } from './queue.ts'

/** What a remote backend gives the dead-letter tools: its DLQ, seen one received batch at a time. */
export interface DeadLetterSource<M> {
  /** Receives a batch, hidden from others for a while (long enough to move it, `forRedrive`). */
  receive(forRedrive: boolean): Promise<M[]>
  /** The provider's id: the same on every receive of one message. */
  messageId(m: M): string
  /** What settles this receipt (a receipt handle, an ack id). */
  handle(m: M): string
  read(m: M): Promise<DeadLetter>
  /** Makes received messages visible again at once. */
  release(handles: string[]): Promise<void>
  /** Sends `wireBody` to the source queue, then removes the dead letter. */
  moveBack(m: M, wireBody: string): Promise<void>
}

/**
 * Neither SQS nor Pub/Sub can peek: receive batches until nothing new comes back (or `limit`), then make
 * them all visible again. Oldest first.
 */
export async function peekDeadLetters<M>(source: DeadLetterSource<M>, limit: number): Promise<DeadLetter[]> {
  const seen = new Map<string, DeadLetter>()
  const handles: string[] = []
  for (let round = 0; round < 50 && seen.size < limit; round++) {
    let fresh = 0
    for (const m of await source.receive(false)) {
      handles.push(source.handle(m))
      if (seen.has(source.messageId(m))) continue
      fresh++
      seen.set(source.messageId(m), await source.read(m))
    }
    if (fresh === 0) break
  }
  await source.release(handles)
  return [...seen.values()].sort((a, b) => a.info.at - b.info.at).slice(0, limit)
}

/**
 * Moves dead letters back to their queue with a fresh attempt count (claim-checking large bodies again),
 * up to `limit`, only `ids` if given, each at most once per call. Messages passed over are made visible
 * again at the end.
 */
export async function redriveDeadLetters<M>(
  source: DeadLetterSource<M>,
  claims: ClaimCheck,
  queue: string,
  options: RedriveOptions,
): Promise<number> {
  const wanted = options.ids ? new Set(options.ids) : undefined
  const limit = options.limit ?? Number.POSITIVE_INFINITY
  const passedOver = new Map<string, string>()
  // A job moved back may fail again and return while this runs; it is left for the next redrive,
  // or a redrive during an outage would loop for as long as the worker keeps failing it.
  const movedIds = new Set<string>()
  let moved = 0
  while (moved < limit) {
    const messages = await source.receive(true)
    if (messages.length === 0) break
    let progress = false
    for (const m of messages) {
      const letter = await source.read(m)
      if (moved >= limit || (wanted && !wanted.has(letter.id)) || movedIds.has(letter.id)) {
        if (!passedOver.has(source.messageId(m))) progress = true
        passedOver.set(source.messageId(m), source.handle(m))
        continue
      }
      const wire = letter.envelope
        ? await claims.wrap(queue, letter.id, encodeEnvelope(freshCopy(letter.envelope)))
        : { body: letter.body }
      await source.moveBack(m, wire.body)
      movedIds.add(letter.id)
      moved++
      progress = true
    }
    if (!progress) break
  }
  await source.release([...passedOver.values()])
  return moved
}
