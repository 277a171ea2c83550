import { Batcher } from '../../src/batcher.ts'
import { LeaseLostError } from '../../src/errors.ts'
import { refusesAckIds, type UnaryCalls } from './unary.ts'

/** Ack ids per Acknowledge or ModifyAckDeadline request. */
export const MAX_ACK_IDS = 1_000

/**
 * Acknowledge (`ack`) or ModifyAckDeadline 0 (`nack`: available again at once) for one subscription, up
 * to 1,000 ack ids per request, each id waiting `flushMs` at most. Without exactly-once delivery the
 * service accepts an ack id whose deadline passed, so a lost lease is the caller's to know from its
 * clock; but one id it does not know at all (a restarted emulator) fails the whole request, so a refused
 * batch is sent again id by id and only the refused ids fail, with LeaseLostError.
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
      const send = (some: string[]) =>
        how === 'ack' ? unary.acknowledge(subscription, some) : unary.modifyAckDeadline(subscription, some, 0)
      try {
        await send(ids)
        return ids.map(() => undefined)
      } catch (err) {
        if (!refusesAckIds(err)) throw err
        return Promise.all(
          ids.map((id) =>
            send([id]).then(
              () => undefined,
              (e: unknown) => {
                if (!refusesAckIds(e)) return e as Error
                return new LeaseLostError(`with ack id ${id.slice(0, 12)}…`, (e as Error).message, {
                  cause: e,
                })
              },
            ),
          ),
        )
      }
    },
  })
}
