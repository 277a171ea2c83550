import type { Clock } from '../../src/clock.ts'
import type { JobStore } from '../../src/store/job-store.ts'

/** What the job store conformance suite needs from a backend. One harness per backend. */
export interface JobStoreHarness {
  /** `memory`, `dynamodb`, `firestore`: test names read `job store on <name>: <case>`. */
  name: string
  capabilities: JobStoreCapabilities
  /** Starts emulators, once before the cases. */
  setup?(): Promise<void>
  teardown?(): Promise<void>
  /**
   * A store on the shared backend (two calls give two instances that see the same state, as two
   * processes would). The suite closes it.
   */
  createStore(options?: StoreOptions): Promise<JobStore>
  /**
   * Stores whose backend cannot answer: `closed` (nothing listens at its address; for memory, a closed
   * store), `stalled` (a TCP peer that accepts and never answers). Every call must reject with
   * StoreUnavailableError, never hang.
   */
  createUnreachableStore(kind: 'closed' | 'stalled'): Promise<{ store: JobStore; stop(): Promise<void> }>
}

export interface StoreOptions {
  clock?: Clock
  recordTtlMs?: number
  resultMaxBytes?: number
}

/** What a backend truly cannot do, so the suite checks what it does instead. */
export interface JobStoreCapabilities {
  /**
   * Lists without an owner come newest first across pages (memory, Firestore's indexes). DynamoDB's one
   * index is by owner: a list without an owner scans, unordered; its pages still cover every match once.
   */
  orderedListWithoutOwner: boolean
  /**
   * The stored expiry's granularity: DynamoDB's TTL attribute is epoch seconds, so a record may live up
   * to a second past its expiry.
   */
  expiryGranularityMs: number
  /** Reads a transition costs besides its write: 0 where the write is conditional (memory, DynamoDB), 1 in a Firestore transaction. */
  readsPerTransition: number
  /** The backend is across a network (so it can also stall); memory is not: only a closed store fails. */
  remote: boolean
  /** A list page may come back short (or empty with a cursor) because the backend filters after it reads. */
  shortPages: boolean
}
