import type { Queue } from '../../src/queue.ts'

/**
 * What the conformance suite needs from an adapter. One harness per adapter; the suite runs every case
 * against it, skipping only what `capabilities` says the backend truly cannot do.
 */
export interface Harness {
  /** Prefix of every test name: `memory`, `sqs`, `pubsub`. */
  name: string
  capabilities: Capabilities
  /** Starts emulators and the like, once before the cases. */
  setup?(): Promise<void>
  teardown?(): Promise<void>
  /** A fresh Queue; the suite closes it. */
  createQueue(): Promise<Queue>
  /** A queue name no other case (or earlier run against a shared backend) uses. */
  queueName(base: string): string
  /**
   * For backends behind a network: the broker's loopback port, and a fresh Queue that reaches it through
   * `endpoint` (a proxy the suite stalls) with a request deadline of `requestTimeoutMs`.
   */
  throughProxy?: {
    port(): number
    createQueue(endpoint: string, requestTimeoutMs: number): Promise<Queue>
  }
}

export interface Capabilities {
  /** Lease to use in cases that let one expire (SQS visibility is in whole seconds; Pub/Sub's minimum ack deadline is 10 s). */
  leaseMs: number
  /** A delay short enough to wait for in a test. */
  delayMs: number
  /**
   * The longest delay the backend holds natively in this harness (SQS's 15 minutes, shortened for tests;
   * 0 for Pub/Sub, which has none; null for memory, which has no limit). The long-delay case waits past it.
   */
  nativeDelayLimitMs: number | null
  /** Stats are approximate and lag (SQS, Pub/Sub): stats cases wait for them to settle. */
  approximateStats: boolean
  /** Pub/Sub reports no queue depth through its data-plane API. */
  reportsStats: boolean
  /** Generous timeout for one case to see its events, in ms. */
  eventTimeoutMs: number
}
