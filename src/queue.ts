import type { DeadLetterInfo, DeadLetterReason, Envelope } from './envelope.ts'
import type { ConveyorError } from './errors.ts'

/**
 * The contract every backend (memory, SQS, Pub/Sub) implements.
 *
 * Delivery is at least once: a message is handed out again until someone settles it. Adapters own
 * transport (send, receive, ack, retry-after, dead-letter, lease); they make no decisions. The Worker
 * owns policy: which handler runs, how long it may run, when to retry and when to give up.
 *
 * Queue names are logical (`emails`, `default`); an adapter maps them to its own resources and gives
 * each queue a dead-letter queue (`<name>-dlq`).
 *
 * Lease rules (every adapter keeps them; the conformance suite checks them):
 * - A received delivery is leased: invisible to other consumers until `leaseExpiresAt`. The adapter
 *   knows or estimates that instant (from when the receive answered); the worker keeps a margin.
 * - `take()` never hands out a delivery whose lease has run out. A consumer that buffers keeps the
 *   leases of buffered deliveries alive (or releases them before they end), and drops one found expired
 *   all the same, unrun.
 * - The lease and any extension budget count from when the handler starts (the worker extends a lease
 *   that is not full when it starts), never from receipt.
 * - A lease is lost when an extension is refused, when the backend reports the receipt stale, or when
 *   `leaseExpiresAt` passes without a successful extension. The Worker then aborts the handler with
 *   LeaseLostError and settles nothing: the message is someone else's now.
 * - A settlement (ack, retry, deadLetter, release) on a lost lease rejects with LeaseLostError; it is
 *   never reported as success. A settlement that fails for another reason (an outage) leaves the
 *   delivery unsettled, so the caller may try it again while the lease holds.
 */
export interface Queue {
  /** `memory`, `sqs` or `pubsub`. */
  readonly driver: string

  /**
   * Sends one message. Resolves once the backend has accepted it; rejects (and nothing is sent) with a
   * ConveyorError otherwise. `delayMs` holds the message back; delays longer than the backend allows
   * natively still work (the adapter re-defers using `envelope.notBefore`), and waiting never counts as
   * an attempt.
   */
  send(queue: string, envelope: Envelope, options?: SendOptions): Promise<void>

  /** Sends many messages with as few requests as the backend allows. All or nothing is not promised:
   * on failure it rejects with a SendBatchError listing which ids were not sent. */
  sendBatch(queue: string, envelopes: readonly Envelope[], options?: SendOptions): Promise<void>

  /**
   * Starts receiving from `queue`. The consumer holds at most `prefetch` deliveries that nobody has
   * taken yet; concurrency is the caller's business: it decides how many it takes and runs.
   */
  consume(queue: string, options: ConsumeOptions): Consumer

  /** Approximate counts; remote backends report what the provider reports. */
  stats(queue: string): Promise<QueueStats>

  /** Reads dead letters without removing them, oldest first where the backend can tell. */
  peekDeadLetters(queue: string, limit?: number): Promise<DeadLetter[]>

  /**
   * Moves dead letters back to `queue` with a fresh attempt count; resolves to how many moved.
   * `ids` limits it to those message ids.
   */
  redrive(queue: string, options?: RedriveOptions): Promise<number>

  /**
   * Stops every consumer (each hands back what it received and nobody took), lets settlements under way
   * reach the backend, and releases connections and timers. Deliveries taken and never settled come
   * back when their lease runs out, at the latest: none is lost. Idempotent. Calls after close reject
   * with QueueClosedError.
   */
  close(): Promise<void>
}

export interface SendOptions {
  /** Milliseconds before the message may be delivered. Default 0. */
  delayMs?: number
}

export interface RedriveOptions {
  limit?: number
  ids?: readonly string[]
}

export interface ConsumeOptions {
  /** How many received deliveries the consumer may hold before they are taken. At least 1. */
  prefetch: number
  /**
   * How long a delivery stays leased (invisible to others) after receipt before it is redelivered,
   * unless it is settled or its lease extended. Defaults to the adapter's configured lease.
   */
  leaseMs?: number
  /** Called whenever `take` may return something it could not before. Must be cheap; must not throw. */
  onReadable: () => void
}

/**
 * A receiving end of one queue. Pull-based so that one caller can share its concurrency across several
 * queues (weights) without any queue holding slots it cannot use.
 */
export interface Consumer {
  readonly queue: string
  /**
   * Takes up to `max` deliveries available now, each with its lease still running. Never waits. The
   * caller must settle (or release) each one.
   */
  take(max: number): Delivery[]
  /**
   * Whether the consumer is receiving: started and not failing (a subscription that is missing, a
   * backend that cannot be reached). Readiness checks report a consumer that is not.
   */
  readonly consuming: boolean
  /**
   * Stops receiving. Everything received but not yet taken (the consumer's buffer, and what its client
   * library holds) is handed back at once, without spending an attempt where the backend allows (see
   * Delivery.release); taken ones stay leased and valid to settle until the Queue itself closes.
   */
  close(): Promise<void>
}

/**
 * One received message. Exactly one of ack / retry / deadLetter / release settles it; a second
 * settlement rejects with AlreadySettledError, except after a settlement that failed without losing the
 * lease (an outage), which may be tried again. `extendLease` may be called any number of times before.
 */
export interface Delivery {
  /** The envelope id, or the provider's id when the body could not be decoded. */
  readonly id: string
  readonly queue: string
  /**
   * 1-based: which handler run of this message this delivery is. Runs that failed, timed out or crashed
   * count; deliveries released unrun (`release()`, buffer hand-backs, shutdown before start) do not where
   * the adapter can tell. After a crash the broker's count may include deliveries that never reached a
   * handler (what a killed process held in its buffer, up to its prefetch); `maxAttempts` compares against this number.
   */
  readonly attempt: number
  /** Epoch ms (adapter's clock) when the lease runs out unless extended; see the lease rules above. */
  readonly leaseExpiresAt: number
  /** The decoded envelope; undefined when the body is not one (see `malformed`). */
  readonly envelope: Envelope | undefined
  /**
   * Why the message can never run: a body that is not an envelope (MalformedMessageError), a
   * claim-checked body whose object is gone (ClaimCheckMissingError). The worker dead-letters it at once.
   */
  readonly malformed: ConveyorError | undefined
  /** Done: remove the message for good. */
  ack(): Promise<void>
  /** Deliver again after `delayMs` (0 = as soon as possible, e.g. handing back on shutdown). */
  retry(delayMs: number): Promise<void>
  /** Move to the queue's dead-letter queue, recording why. */
  deadLetter(reason: DeadLetterReason): Promise<void>
  /**
   * Hand back unrun (buffer hand-backs, a duplicate, shutdown before start): delivered again as soon as
   * possible, and the attempt it would have been is not spent where the backend allows (a copy carrying
   * the same attempt replaces it).
   */
  release(): Promise<void>
  /**
   * Keep the lease for `ms` more from now, so a long job is not redelivered while it runs. Rejects with
   * LeaseLostError when the lease is gone; other rejections are transient (try again).
   */
  extendLease(ms: number): Promise<void>
}

/** Message counts; `null` where the backend cannot tell (Pub/Sub reports depth only through Cloud Monitoring). */
export interface QueueStats {
  /** Waiting and deliverable now. */
  ready: number | null
  /** Leased to a consumer, not yet settled. */
  inFlight: number | null
  /** Waiting for a delay or a retry-after. */
  delayed: number | null
  /** In the dead-letter queue. */
  deadLettered: number | null
}

/** A message in a dead-letter queue. */
export interface DeadLetter {
  id: string
  /** The decoded envelope, when the body was one. */
  envelope: Envelope | undefined
  /** The body as it was received. */
  body: string
  info: DeadLetterInfo
}

/** Optional capability: send a body that is not an envelope (tests and tools that inject poison). */
export interface RawSender {
  sendRaw(queue: string, body: string): Promise<void>
}

export function canSendRaw(queue: Queue): queue is Queue & RawSender {
  return typeof (queue as Partial<RawSender>).sendRaw === 'function'
}
