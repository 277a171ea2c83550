import type { Firestore, Transaction } from '@google-cloud/firestore'
import { StoreUnavailableError } from '../../src/errors.ts'
import type { RequestCounts } from '../../src/store/records.ts'

const NOT_FOUND = 5
const ALREADY_EXISTS = 6
const FAILED_PRECONDITION = 9
/** Compare-and-set loops (claims, counters) give up after this many lost races in a row. */
export const CAS_ATTEMPTS = 20
/** How long close() waits for calls that outlived their deadline before it leaves them behind. */
const CLOSE_GRACE_MS = 15_000
/** Transactions retry on contention (100 callers on one counter queue up behind each other). */
const TRANSACTION_ATTEMPTS = 50

/**
 * The Firestore store's calls: each under the store's deadline (the client's own retries can run for
 * minutes), counted, with ALREADY_EXISTS and failed preconditions told apart from an outage
 * (StoreUnavailableError); and a close that does not terminate the client under calls still running.
 */
export class FirestoreCalls {
  closed = false
  readonly #db: Firestore
  readonly #timeoutMs: number
  readonly #requests: RequestCounts
  readonly #inflight = new Set<Promise<unknown>>()

  constructor(db: Firestore, timeoutMs: number, requests: RequestCounts) {
    this.#db = db
    this.#timeoutMs = timeoutMs
    this.#requests = requests
  }

  /**
   * Terminates the client. Calls that outlived their deadline may still be retrying inside the client
   * (its own retries run for up to a minute); terminating under them makes the client reject into
   * nowhere. So close waits for them for up to CLOSE_GRACE_MS, and if some are still going, terminates
   * the client once they end, without waiting for that.
   */
  async close(terminate: boolean): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (!terminate) return
    if (this.#inflight.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const grace = new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_GRACE_MS)
      })
      await Promise.race([Promise.allSettled([...this.#inflight]), grace])
      clearTimeout(timer)
    }
    if (this.#inflight.size === 0) return this.#db.terminate()
    void Promise.allSettled([...this.#inflight]).then(() => this.#db.terminate().catch(() => undefined))
  }

  /** A write with a precondition: false when another writer got there first. */
  async compareAndSet(operation: string, write: () => Promise<unknown>): Promise<boolean> {
    try {
      await this.call(operation, 'write', write)
      return true
    } catch (err) {
      if (err instanceof AlreadyExists || err instanceof PreconditionFailed) return false
      throw err
    }
  }

  /** A read-write transaction: one read and one commit, again on contention. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.call('transaction', 'write', () =>
      this.#db.runTransaction(
        (tx) => {
          this.#requests.count('transaction.get', 'read')
          return fn(tx)
        },
        { maxAttempts: TRANSACTION_ATTEMPTS },
      ),
    )
  }

  /** One call under the store's deadline; errors other than ALREADY_EXISTS become StoreUnavailableError. */
  async call<T>(operation: string, kind: 'read' | 'write', call: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError('the Firestore job store is closed')
    this.#requests.count(operation, kind)
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StoreUnavailableError(`Firestore ${operation} did not answer within ${this.#timeoutMs} ms`),
          ),
        this.#timeoutMs,
      )
    })
    const attempt = call()
    this.#inflight.add(attempt)
    // It may settle after the deadline, when nobody waits for it any more.
    attempt.then(
      () => this.#inflight.delete(attempt),
      () => this.#inflight.delete(attempt),
    )
    try {
      return await Promise.race([attempt, deadline])
    } catch (err) {
      if (err instanceof StoreUnavailableError) throw err
      const code = (err as { code?: unknown }).code
      if (code === ALREADY_EXISTS) throw new AlreadyExists()
      if (code === FAILED_PRECONDITION || code === NOT_FOUND) throw new PreconditionFailed()
      throw new StoreUnavailableError(`Firestore ${operation} failed: ${(err as Error).message}`, {
        cause: err,
      })
    } finally {
      clearTimeout(timer)
    }
  }
}

/** `create()` of a document that exists. */
export class AlreadyExists extends Error {}
/** A write's precondition (update time, existence) failed. */
export class PreconditionFailed extends Error {}

/**
 * Client settings that bound each gRPC call's deadline and retries by the store's request timeout (the
 * defaults allow minutes), so a timed-out read ends soon underneath too. The client applies them to
 * reads and queries; a commit keeps its own retry settings (up to a minute), whatever these say.
 */
export function deadlines(timeoutMs: number): Record<string, unknown> {
  const methods = {
    BatchGetDocuments: 'deadline_exceeded_internal_unavailable',
    BeginTransaction: 'deadline_exceeded_resource_exhausted_internal_unavailable',
    Commit: 'resource_exhausted_unavailable',
    Rollback: 'deadline_exceeded_resource_exhausted_internal_unavailable',
    RunQuery: 'deadline_exceeded_internal_unavailable',
  }
  return {
    interfaces: {
      'google.firestore.v1.Firestore': {
        retry_params: {
          conveyor: {
            initial_retry_delay_millis: 50,
            retry_delay_multiplier: 1.3,
            max_retry_delay_millis: timeoutMs,
            initial_rpc_timeout_millis: timeoutMs,
            rpc_timeout_multiplier: 1,
            max_rpc_timeout_millis: timeoutMs,
            total_timeout_millis: timeoutMs,
          },
        },
        methods: Object.fromEntries(
          Object.entries(methods).map(([m, codes]) => [
            m,
            { timeout_millis: timeoutMs, retry_codes_name: codes, retry_params_name: 'conveyor' },
          ]),
        ),
      },
    },
  }
}
