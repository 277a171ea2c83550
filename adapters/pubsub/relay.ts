import { setTimeout as sleep } from 'node:timers/promises'
import { DeadlineQueue } from '../../src/deadline-queue.ts'
import type { PubSubQueue } from './queue.ts'
import type { QueueNames } from './resources.ts'
import { DEADLINE_EXCEEDED, type ReceivedMessage } from './unary.ts'

const MAX_HELD = 1000

/**
 * Pub/Sub has no per-message delay, so delayed messages and retry-afters are published to
 * `<name>-delay`. The relay pulls that subscription, holds each message (on one timer structure) until
 * its `notBefore`, then publishes it to the main topic and acks it. A message due later than the
 * subscription's ack deadline (`relayHoldMs`) is left unacked and comes back then, so nothing waits in
 * memory for long and a crashed relay loses nothing: its messages return within `relayHoldMs`.
 */
export class DelayRelay {
  readonly #backend: PubSubQueue
  readonly #names: QueueNames
  readonly #held: DeadlineQueue<ReceivedMessage>
  readonly #holdMs: number
  #heldCount = 0
  readonly #heldIds = new Set<string>()
  #running = true
  readonly #abort = new AbortController()
  #loop: Promise<void>
  readonly #forwarding = new Set<Promise<void>>()

  constructor(backend: PubSubQueue, names: QueueNames, holdMs: number) {
    this.#backend = backend
    this.#names = names
    this.#holdMs = holdMs
    this.#held = new DeadlineQueue(backend.clock, (m) => {
      this.#heldCount--
      this.#heldIds.delete(m.ackId!)
      this.#track(this.#forward(m))
    })
    this.#loop = this.#pullLoop()
  }

  /**
   * Stops pulling, hands held messages back for another relay at once, and resolves when the pull under
   * way (at most `pullWaitMs` and a second) has ended and what it brought has been handed back too.
   */
  async stop(): Promise<void> {
    this.#running = false
    this.#abort.abort()
    const held = [...this.#heldIds]
    this.#held.clear()
    this.#heldIds.clear()
    this.#heldCount = 0
    await this.#backend.release(this.#names.delaySubscription, held).catch(() => undefined)
    await this.#loop
    await Promise.all(this.#forwarding)
  }

  /** A forward under way: stop() waits for it, so the queue does not close its client mid-forward. */
  #track(forward: Promise<void>): void {
    this.#forwarding.add(forward)
    void forward.finally(() => this.#forwarding.delete(forward))
  }

  get held(): number {
    return this.#heldCount
  }

  async #pullLoop(): Promise<void> {
    let failures = 0
    while (this.#running) {
      if (this.#heldCount >= MAX_HELD) {
        await this.#pause(1_000)
        continue
      }
      let messages: ReceivedMessage[]
      try {
        messages = await this.#backend.pull(
          this.#names.delaySubscription,
          100,
          this.#backend.options.pullWaitMs,
        )
        failures = 0
      } catch (err) {
        if (!this.#running) break
        if ((err as { code?: number }).code === DEADLINE_EXCEEDED) continue // no answer: pull again
        failures++
        if (failures === 1 || failures % 10 === 0)
          this.#backend.log.warn({ err, failures }, 'delay relay cannot pull; backing off')
        await this.#pause(Math.min(5_000, 200 * 2 ** failures))
        continue
      }
      for (let i = 0; i < messages.length; i++) {
        if (!this.#running) {
          // Stopped meanwhile: what is left goes back for another relay at once.
          const rest = messages.slice(i).map((m) => m.ackId!)
          await this.#backend.release(this.#names.delaySubscription, rest).catch(() => undefined)
          break
        }
        await this.#admit(messages[i]!)
      }
    }
  }

  async #admit(m: ReceivedMessage): Promise<void> {
    const notBefore = await this.#backend.notBeforeOf(m)
    if (!this.#running) {
      await this.#backend.release(this.#names.delaySubscription, [m.ackId!]).catch(() => undefined)
      return
    }
    const remaining = notBefore - this.#backend.clock.now()
    if (remaining <= 20) return this.#forward(m)
    if (remaining < this.#holdMs - 5_000) {
      this.#heldCount++
      this.#heldIds.add(m.ackId!)
      this.#held.schedule(notBefore, m)
    }
    // Otherwise leave it unacked: it returns when its ack deadline (relayHoldMs) runs out.
  }

  async #forward(m: ReceivedMessage): Promise<void> {
    if (!this.#running) return
    try {
      await this.#backend.publishWire(
        this.#names.topic,
        Buffer.from(m.message!.data as Uint8Array),
        m.message!.attributes ?? {},
      )
      await this.#backend.acknowledge(this.#names.delaySubscription, [m.ackId!])
    } catch (err) {
      // Not acked: the message comes back to a relay when its ack deadline runs out.
      this.#backend.log.warn({ err }, 'delay relay could not forward a message; it will come back')
    }
  }

  #pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#abort.signal }).catch(() => undefined)
  }
}
