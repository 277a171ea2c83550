import { setTimeout as sleep } from 'node:timers/promises'
import { DeadlineQueue } from '../../src/deadline-queue.ts'
import type { PubSubQueue } from './queue.ts'
import type { QueueNames } from './resources.ts'
import type { ReceivedMessage } from './unary.ts'

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

  constructor(backend: PubSubQueue, names: QueueNames, holdMs: number) {
    this.#backend = backend
    this.#names = names
    this.#holdMs = holdMs
    this.#held = new DeadlineQueue(backend.clock, (m) => {
      this.#heldCount--
      this.#heldIds.delete(m.ackId!)
      void this.#forward(m)
    })
    this.#loop = this.#pullLoop()
  }

  /**
   * Stops pulling, hands held messages back for another relay at once, and resolves when the pull under
   * way (at most this.#backend.options.pullWaitMs) has ended and what it brought has been handed back too.
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
        failures++
        if (failures === 1 || failures % 10 === 0)
          this.#backend.log.warn({ err, failures }, 'delay relay cannot pull; backing off')
        await this.#pause(Math.min(5_000, 200 * 2 ** failures))
        continue
      }
      if (!this.#running) {
        await this.#backend
          .release(
            this.#names.delaySubscription,
            messages.map((m) => m.ackId!),
          )
          .catch(() => undefined)
        break
      }
      for (const m of messages) await this.#admit(m)
    }
  }

  async #admit(m: ReceivedMessage): Promise<void> {
    const notBefore = await this.#backend.notBeforeOf(m)
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
