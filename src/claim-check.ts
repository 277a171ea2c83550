import { text } from 'node:stream/consumers'
import { ClaimCheckMissingError, ConveyorError, ObjectNotFoundError } from './errors.ts'
import type { ObjectStore } from './storage/object-store.ts'

const MARKER = '{"conveyorClaimCheck":'

export interface ClaimCheckSettings {
  /** Bodies larger than this (UTF-8 bytes) are stored in the object store. */
  thresholdBytes: number
  /** The transport's hard limit: a larger body without a store cannot be sent. */
  maxBytes: number
  prefix: string
  /** Names the transport in error messages. */
  transport: string
}

/**
 * The claim-check pattern for transports with message size limits: a large body is written to the
 * object store and the message carries a small pointer instead. Receivers resolve it transparently.
 */
export class ClaimCheck {
  readonly #store: ObjectStore | undefined
  readonly #settings: ClaimCheckSettings

  constructor(store: ObjectStore | undefined, settings: ClaimCheckSettings) {
    this.#store = store
    this.#settings = settings
  }

  /** The body to put on the wire, and the object key when the real body went to the store. */
  async wrap(queue: string, id: string, body: string): Promise<{ body: string; key?: string }> {
    const bytes = Buffer.byteLength(body)
    if (bytes <= this.#settings.thresholdBytes) return { body }
    if (!this.#store) {
      if (bytes <= this.#settings.maxBytes) return { body }
      throw new ConveyorError(
        'MESSAGE_TOO_LARGE',
        `message ${id} is ${bytes} bytes, over ${this.#settings.transport}'s ${this.#settings.maxBytes}-byte limit; configure an object store for claim checks (S3_BUCKET)`,
        { messageId: id },
      )
    }
    const key = `${this.#settings.prefix}${queue}/${id}.json`
    await this.#store.put(key, body, { contentType: 'application/json' })
    return { body: JSON.stringify({ conveyorClaimCheck: { key, bytes } }), key }
  }

  /**
   * The real body, and the key when it came from the store. Rejects with ClaimCheckMissingError when the
   * object is gone (the message can never run: dead-letter it); other errors are transient.
   */
  async unwrap(wire: string): Promise<{ body: string; key?: string }> {
    if (!wire.startsWith(MARKER)) return { body: wire }
    const { key } = (JSON.parse(wire) as { conveyorClaimCheck: { key: string } }).conveyorClaimCheck
    if (!this.#store) {
      throw new ConveyorError(
        'CLAIM_CHECK_UNAVAILABLE',
        `message body is in the object store at "${key}" but no store is configured`,
      )
    }
    try {
      return { body: await text(await this.#store.get(key)), key }
    } catch (err) {
      if (err instanceof ObjectNotFoundError) {
        // Keys are `<prefix><queue>/<message id>.json` (see wrap): the id names the lost message.
        const messageId = /([^/]+)\.json$/.exec(key)?.[1]
        throw new ClaimCheckMissingError(key, { cause: err, ...(messageId ? { messageId } : {}) })
      }
      throw err
    }
  }

  /** Removes a stored body once its message is done with. */
  async release(key: string | undefined): Promise<void> {
    if (key && this.#store) await this.#store.delete(key)
  }
}

/**
 * Wraps every envelope's body (claim-checking large ones), hands each to `transmit`, and removes the
 * stored body again when its send fails. Returns one promise per envelope, for reportSends.
 */
export async function transmitEach(
  claims: ClaimCheck,
  queue: string,
  envelopes: readonly { id: string }[],
  encode: (i: number) => string,
  transmit: (body: string) => Promise<unknown>,
): Promise<Promise<unknown>[]> {
  const wires = await Promise.all(envelopes.map((e, i) => claims.wrap(queue, e.id, encode(i))))
  return wires.map((wire) =>
    transmit(wire.body).catch(async (err: unknown) => {
      await claims.release(wire.key).catch(() => undefined)
      throw err
    }),
  )
}
