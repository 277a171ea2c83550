import { Deque } from '../../src/deque.ts'
import type { DeadLetter } from '../../src/queue.ts'

/** A message as the memory backend keeps it: the encoded body, as a remote backend would. */
export interface StoredMessage {
  readonly id: string
  readonly queue: QueueState
  body: string
  /** How many times it has been handed out (the provider's receive count). */
  receives: number
}

/** Everything one named queue holds. */
export class QueueState {
  readonly name: string
  readonly ready = new Deque<StoredMessage>()
  /** Leased and not yet settled. */
  inFlight = 0
  readonly dead: DeadLetter[] = []
  /** Consumers' onReadable callbacks (an array: notify runs per send, and Set iteration allocates). */
  readers: (() => void)[] = []
  delayed = 0

  constructor(name: string) {
    this.name = name
  }

  get size(): number {
    return this.ready.length + this.inFlight + this.delayed
  }

  notify(): void {
    const readers = this.readers
    for (let i = 0; i < readers.length; i++) readers[i]!()
  }
}
