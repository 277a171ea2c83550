import { Batcher } from '../../src/batcher.ts'
import type { UnaryCalls } from './unary.ts'

/** Ack ids per Acknowledge or ModifyAckDeadline request. */
export const MAX_ACK_IDS = 1_000

/**
 * Acknowledge (`ack`) or ModifyAckDeadline 0 (`nack`: available again at once) for one subscription, up
 * to 1,000 ack ids per request, each id waiting `flushMs` at most. The request succeeds or fails as a
 * whole: without exactly-once delivery the service accepts an ack id whose deadline passed, so a lost
 * lease is the caller's to know from its clock.
 */
export function settleBatcher(
  unary: UnaryCalls,
  subscription: string,
  how: 'ack' | 'nack',
  flushMs: number,
): Batcher<string> {
  return new Batcher<string>({
    maxItems: MAX_ACK_IDS,
    maxBytes: Number.POSITIVE_INFINITY,
    flushMs,
    sizeOf: () => 0,
    send: async (ids) => {
      if (how === 'ack') await unary.acknowledge(subscription, ids)
      else await unary.modifyAckDeadline(subscription, ids, 0)
      return ids.map(() => undefined)
    },
  })
}
