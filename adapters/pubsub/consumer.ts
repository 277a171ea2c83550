import { setTimeout as sleep } from 'node:timers/promises'
import { receiveBackoffMs } from '../../src/backoff.ts'
import { Deque } from '../../src/deque.ts'
import type { ConsumeOptions, Consumer, Delivery } from '../../src/queue.ts'
import type { PubSubDelivery } from './delivery.ts'
import type { PubSubQueue } from './queue.ts'
import { DelayRelay } from './relay.ts'
import { DEADLINE_EXCEEDED, type ReceivedMessage } from './unary.ts'

const MAX_POLLERS = 4
/** Pub/Sub's largest Pull. */
const MAX_PULL = 1_000

/**
 * Pulls the queue's subscription (unary Pull, like SQS's ReceiveMessage) for no more messages than its
 * buffer has room for, so it never holds more than `prefetch` untaken deliveries; plus the queue's
 * delay relay. Streaming pull is not used: Google's emulator ignores its flow control and pushes a
 * whole backlog, and messages the client then holds unread get no lease extension and are delivered
 * again while their first copy still waits (measured: jobs run up to five times).
 *
 * Leases: a pulled message is leased until its ack deadline (the subscription's, at most the consume
 * `leaseMs`), estimated from when the pull answered. The consumer keeps the leases of buffered
 * deliveries alive (every lease/3 it extends, in one ModifyAckDeadline, those with less than 2/3 left),
 * and take() drops one whose lease ran out all the same, unrun. Taken deliveries are the worker's to
 * extend.
 *
 * A start or a pull that fails (subscription missing, emulator not up yet, network down) is retried with
 * backoff; `consuming` says whether it is pulling. close() stops pulling, hands back what no handler took
 * and waits for the pulls under way (at most `pullWaitMs` and a second), handing back what they bring.
 */
export class PubSubConsumer implements Consumer {
  readonly queue: string
  readonly #backend: PubSubQueue
  readonly #options: ConsumeOptions
  readonly #leaseMs: number
  readonly #buffer = new Deque<PubSubDelivery>()
  readonly #abort = new AbortController()
  readonly #pollers: Promise<void>[] = []
  #reserved = 0
  #wakeSpace: (() => void)[] = []
  #relay: DelayRelay | undefined
  #subscription = ''
  #closed = false
  #closing: Promise<void> | undefined
  #failing = true
  #keepAlive: ReturnType<typeof setTimeout> | undefined
  readonly started: Promise<void>

  constructor(backend: PubSubQueue, queue: string, options: ConsumeOptions) {
    this.#backend = backend
    this.queue = queue
    this.#options = options
    // Pub/Sub's shortest ack deadline is 10 s; the subscription's own is the most a pull can count on.
    this.#leaseMs = Math.min(
      backend.options.leaseMs,
      Math.max(10_000, options.leaseMs ?? backend.options.leaseMs),
    )
    this.started = this.#start()
  }

  get consuming(): boolean {
    return !this.#closed && !this.#failing
  }

  /** Resolves the queue's resources (again with backoff, 0.25 s doubling to 5 s), then starts pulling. */
  async #start(): Promise<void> {
    for (let failures = 0; !this.#closed; failures++) {
      try {
        const names = await this.#backend.names(this.queue)
        if (this.#closed) return
        this.#subscription = names.subscription
        this.#failing = false
        this.#relay = new DelayRelay(this.#backend, names, this.#backend.options.relayHoldMs)
        const pollers = Math.min(MAX_POLLERS, Math.ceil(this.#options.prefetch / 50))
        for (let i = 0; i < pollers; i++) this.#pollers.push(this.#poll())
        if (failures > 0) this.#backend.log.info({ queue: this.queue }, 'Pub/Sub consumer started')
        return
      } catch (err) {
        const waitMs = Math.min(5_000, 250 * 2 ** failures)
        this.#backend.log.warn(
          { err, queue: this.queue, failures: failures + 1, retryInMs: waitMs },
          'cannot start Pub/Sub consumer yet; retrying',
        )
        this.#backend.forget(this.queue)
        await this.#pause(waitMs)
      }
    }
  }

  take(max: number): Delivery[] {
    const out: Delivery[] = []
    const before = this.#buffer.length
    const now = this.#backend.clock.now()
    while (out.length < max) {
      const d = this.#buffer.shift()
      if (!d) break
      if (d.leaseExpiresAt <= now) continue // delivered again already: not ours to run or settle
      out.push(d)
    }
    if (this.#buffer.length < before) for (const wake of this.#wakeSpace.splice(0)) wake()
    return out
  }

  /** How many more messages to ask for now, up to the prefetch. */
  #room(): number {
    return Math.min(MAX_PULL, this.#options.prefetch - this.#buffer.length - this.#reserved)
  }

  async #poll(): Promise<void> {
    let failures = 0
    while (!this.#closed) {
      const want = this.#room()
      if (want <= 0) {
        await new Promise<void>((resolve) => this.#wakeSpace.push(resolve))
        continue
      }
      // Reserved until each message is buffered (or dropped), so other pollers do not pull past the prefetch.
      this.#reserved += want
      let received: ReceivedMessage[]
      let leaseExpiresAt = 0
      try {
        received = await this.#backend.pull(this.#subscription, want, this.#backend.options.pullWaitMs)
        // The ack deadline starts when the service hands the messages out, moments before this answer
        // arrives: the worker keeps a sixth of the lease as margin.
        leaseExpiresAt = this.#backend.clock.now() + this.#leaseMs
        if (failures > 0) this.#backend.log.info({ queue: this.queue }, 'Pub/Sub reachable again; pulling')
        failures = 0
        this.#failing = false
      } catch (err) {
        this.#reserved -= want
        // No answer within the pull's deadline: nothing came (Google answers an empty pull before it), or
        // the network is silent. Either way pull again; readiness stays as it was.
        if ((err as { code?: number }).code === DEADLINE_EXCEEDED) continue
        failures++
        this.#failing = true
        const waitMs = receiveBackoffMs(failures)
        if (failures === 1 || failures % 10 === 0) {
          this.#backend.log.warn(
            { queue: this.queue, err, failures, retryInMs: Math.round(waitMs) },
            'cannot pull from Pub/Sub; backing off',
          )
        }
        if (isNotFound(err)) await this.#resolveAgain()
        await this.#pause(waitMs)
        continue
      }
      this.#reserved -= want - received.length
      let accepted = 0
      for (const m of received) {
        const delivery = await this.#admit(m, leaseExpiresAt)
        this.#reserved--
        if (!delivery) continue
        if (this.#closed) {
          await delivery.release().catch(() => undefined) // arrived after close: straight back
          continue
        }
        this.#buffer.push(delivery)
        accepted++
      }
      if (accepted > 0) {
        this.#scheduleKeepAlive()
        this.#options.onReadable()
      }
    }
  }

  /** Decodes one pulled message; one that cannot be admitted now (an outage) goes straight back. */
  async #admit(m: ReceivedMessage, leaseExpiresAt: number): Promise<PubSubDelivery | undefined> {
    try {
      return await this.#backend.admit(this.queue, this.#subscription, m, leaseExpiresAt)
    } catch (err) {
      this.#backend.log.warn(
        { err, queue: this.queue, messageId: m.message?.messageId },
        'cannot admit a Pub/Sub message; handing it back',
      )
      await this.#backend.release(this.#subscription, [m.ackId!]).catch(() => undefined)
      return undefined
    }
  }

  /** The subscription is gone (a restarted emulator): check the resources again (autoCreate makes them). */
  async #resolveAgain(): Promise<void> {
    this.#backend.forget(this.queue)
    try {
      this.#subscription = (await this.#backend.names(this.queue)).subscription
    } catch {
      // Still missing: the next pull fails the same way and backs off further.
    }
  }

  /**
   * Drops buffered deliveries whose lease ran out (unrun: they are delivered again) and extends, in one
   * call, those that have used a third of theirs. The new lease counts from before the call and holds
   * only if the call returned before the old one ran out (the service accepts a late extension silently).
   */
  #keepBufferedLeases(): void {
    this.#keepAlive = undefined
    if (this.#closed || this.#buffer.length === 0) return
    const startedAt = this.#backend.clock.now()
    const due: PubSubDelivery[] = []
    const before = this.#buffer.length
    for (let i = this.#buffer.length; i > 0; i--) {
      const d = this.#buffer.shift()!
      if (d.leaseExpiresAt <= startedAt) continue
      this.#buffer.push(d)
      if (d.leaseExpiresAt - startedAt <= (this.#leaseMs * 2) / 3) due.push(d)
    }
    if (this.#buffer.length < before) for (const wake of this.#wakeSpace.splice(0)) wake()
    if (due.length > 0) {
      this.#backend
        .extendDeliveries(this.#subscription, due, this.#leaseMs)
        .then((lost) => {
          const now = this.#backend.clock.now()
          const gone = new Set(lost)
          for (const d of due) {
            if (gone.has(d) || d.leaseExpiresAt <= now)
              d.leaseExpiresAt = 0 // take() drops it
            else d.leaseExpiresAt = Math.max(d.leaseExpiresAt, startedAt + this.#leaseMs)
          }
        })
        .catch((err: unknown) => {
          // The next round tries again; take() drops any that ran out meanwhile.
          this.#backend.log.warn({ err, queue: this.queue }, 'could not extend buffered Pub/Sub leases')
        })
    }
    this.#scheduleKeepAlive()
  }

  #scheduleKeepAlive(): void {
    if (this.#keepAlive || this.#closed || this.#buffer.length === 0) return
    this.#keepAlive = setTimeout(() => this.#keepBufferedLeases(), this.#leaseMs / 3)
    this.#keepAlive.unref()
  }

  /** Messages held by this consumer (buffered); delayed ones held by its relay. */
  counts(): { held: number; delayed: number } {
    return { held: this.#buffer.length, delayed: this.#relay?.held ?? 0 }
  }

  /**
   * Stops pulling and hands back what was pulled but not taken. Pulls under way are not cancelled (the
   * service may already have handed their messages out); they end within `pullWaitMs` and what they
   * bring is handed back. Taken deliveries stay valid to settle until the Queue closes.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#closed = true
    if (this.#keepAlive) clearTimeout(this.#keepAlive)
    this.#abort.abort() // ends back-off pauses, not requests
    for (const wake of this.#wakeSpace.splice(0)) wake()
    await this.started
    const now = this.#backend.clock.now()
    const untaken: PubSubDelivery[] = []
    for (let d = this.#buffer.shift(); d; d = this.#buffer.shift())
      if (d.leaseExpiresAt > now) untaken.push(d)
    await Promise.all([
      ...untaken.map((d) => d.release().catch(() => undefined)),
      ...this.#pollers,
      this.#relay?.stop(),
    ])
  }

  #pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#abort.signal }).catch(() => undefined)
  }
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 5
}
