import { createHash } from 'node:crypto'
import { MemoryJobStore } from '../../adapters/memory/job-store.ts'
import { type Clock, systemClock } from '../../src/clock.ts'
import type { JobStore } from '../../src/store/job-store.ts'

const HOUR_MS = 3_600_000

/**
 * At most `perHour` emails to one address per hour, counted in the job store every worker process
 * shares (a windowed counter per address), so the limit holds across workers. The hour is the
 * counter's fixed window, starting with the address's first email. An email that is not sent gives its
 * slot back (`giveBack`), so failed attempts never use up an address's hour.
 *
 * Store keys carry a hash of the address, never the address. When the store cannot be reached, `take`
 * rejects with StoreUnavailableError: the email job fails and is retried later, not sent unchecked.
 */
export class RecipientLimit {
  readonly perHour: number
  readonly #store: JobStore

  /** `store`: the deployment's job store; default one private to this process (then the limit is per process). */
  constructor(perHour: number, clock: Clock = systemClock, store?: JobStore) {
    this.perHour = perHour
    this.#store = store ?? new MemoryJobStore({}, { clock })
  }

  /** Counts one email to `address` and resolves to true, or to false (counting nothing) when its hour is full. */
  async take(address: string): Promise<boolean> {
    const key = keyOf(address)
    const total = await this.#store.add(key, 1, HOUR_MS)
    if (total <= this.perHour) return true
    await this.#store.add(key, -1, HOUR_MS)
    return false
  }

  /** Gives back a slot `take` counted for an email that was not sent. */
  async giveBack(address: string): Promise<void> {
    await this.#store.add(keyOf(address), -1, HOUR_MS)
  }
}

function keyOf(address: string): string {
  const hash = createHash('sha256').update(address.trim().toLowerCase()).digest('base64url')
  return `mail-recipient:${hash.slice(0, 32)}`
}
