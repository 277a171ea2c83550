import type { Deadline } from '../../src/deadline-queue.ts'
import { Deque } from '../../src/deque.ts'
import type { DeadLetter } from '../../src/queue.ts'

/** A message as the memory backend keeps it: the encoded body, as a remote backend would. */
export interface StoredMessage {
  readonly id: string
  body: string
  /** How many times it has been handed out (the provider's receive count). */
  receives: number
}

/** A handed-out message. `current` is false once settled or expired. */
export interface Lease {
  readonly message: StoredMessage
  readonly queue: QueueState
  current: boolean
  expiry: Deadline<TimerItem>
}

export type TimerItem =
  | { kind: 'due'; queue: QueueState; message: StoredMessage }
  | { kind: 'lease'; lease: Lease }

/** Everything one named queue holds. */
export class QueueState {
  readonly name: string
  readonly ready = new Deque<StoredMessage>()
  readonly inFlight = new Set<Lease>()
  readonly dead: DeadLetter[] = []
  readonly readers = new Set<() => void>()
  delayed = 0

  constructor(name: string) {
    this.name = name
  }

  get size(): number {
    return this.ready.length + this.inFlight.size + this.delayed
  }

  notify(): void {
    for (const onReadable of this.readers) onReadable()
  }
}
