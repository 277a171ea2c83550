import { MemoryJobStore } from '../../adapters/memory/job-store.ts'
import { type Clock, systemClock } from '../../src/clock.ts'
import { idTime } from '../../src/ids.ts'
import type { JobStore } from '../../src/store/job-store.ts'

export interface ExportSlotsOptions {
  /** The store every API and worker process shares (its claims). Default: one private to this process. */
  store?: JobStore
  /** Slots per owner (EXPORT_MAX_ACTIVE_PER_USER). */
  max: number
  /** How long a slot holds at most: past it a holder that never gave it back has lost it. */
  ttlMs: number
  /** Is export `id` of `owner` still queued or running? Asked only when every slot is taken. */
  isActive: (owner: string, id: string) => Promise<boolean>
  clock?: Clock
}

/** A holder whose record is missing this long after its id was made died before writing it. */
const MISSING_GRACE_MS = 60_000

/**
 * The per-owner cap on active exports, shared by every process through the store's claims: slot `i`
 * is the claim `export-slot:<owner>:<i>` (i < max), holding the export id. Exactly one of any number of
 * concurrent requests wins a free slot, so the cap holds across API processes; taking a slot costs one
 * claim per slot tried, never a read of the owner's records.
 *
 * A slot is given back when its export completes, fails for good, or is deleted. It heals by itself when
 * that never happens: a claim lives `ttlMs` at most, and when all slots are taken the holders are looked
 * up, and a slot whose export is finished, failed, expired or gone (its record missing a minute after
 * its id was made: the process died before writing it) is released and taken.
 */
export class ExportSlots {
  readonly max: number
  readonly #store: JobStore
  readonly #ttlMs: number
  readonly #isActive: ExportSlotsOptions['isActive']
  readonly #clock: Clock

  constructor(options: ExportSlotsOptions) {
    this.max = options.max
    this.#clock = options.clock ?? systemClock
    this.#store = options.store ?? new MemoryJobStore({}, { clock: this.#clock })
    this.#ttlMs = options.ttlMs
    this.#isActive = options.isActive
  }

  /** Takes a free slot for export `id` (a uuid v7); resolves to its number, or undefined when all are held. */
  async take(owner: string, id: string): Promise<number | undefined> {
    const holders: { slot: number; id: string }[] = []
    for (let slot = 0; slot < this.max; slot++) {
      const claim = await this.#store.claim(key(owner, slot), id, this.#ttlMs)
      if (claim.won) return slot
      holders.push({ slot, id: claim.value })
    }
    const now = this.#clock.now()
    for (const holder of holders) {
      if (holder.id === id) return holder.slot
      if (now - idTime(holder.id) < MISSING_GRACE_MS) continue
      if (await this.#isActive(owner, holder.id)) continue
      if (!(await this.#store.release(key(owner, holder.slot), holder.id))) continue
      if ((await this.#store.claim(key(owner, holder.slot), id, this.#ttlMs)).won) return holder.slot
    }
    return undefined
  }

  /** Gives back export `id`'s slot (all slots are tried when its number is not known). Idempotent. */
  async give(owner: string, id: string, slot?: number): Promise<void> {
    const slots = slot === undefined ? Array.from({ length: this.max }, (_, i) => i) : [slot]
    await Promise.all(slots.map((s) => this.#store.release(key(owner, s), id)))
  }
}

function key(owner: string, slot: number): string {
  return `export-slot:${owner}:${slot}`
}
