import {
  type CollectionReference,
  type DocumentData,
  type DocumentReference,
  FieldPath,
  Firestore,
  type Query,
  Timestamp,
  type Transaction,
} from '@google-cloud/firestore'
import { type Clock, systemClock } from '../../src/clock.ts'
import { StoreUnavailableError } from '../../src/errors.ts'
import type {
  AttemptRef,
  CancelOutcome,
  ClaimResult,
  JobPage,
  JobProgress,
  JobQuery,
  JobRecord,
  JobStore,
  NewJobRecord,
  Transition,
  TransitionResult,
} from '../../src/store/job-store.ts'
import {
  applyPatch,
  decodeCursor,
  encodeCursor,
  isTerminal,
  matchesQuery,
  newRecord,
  normalizeProgress,
  pageSize,
  RequestCounts,
  reopenPatch,
  type StatusCounts,
  serializeResult,
  stepOf,
  TERMINAL_STEP,
  tally,
  transitionPatch,
} from '../../src/store/records.ts'
import { AlreadyExists, CAS_ATTEMPTS, deadlines, FirestoreCalls } from './calls.ts'
import { docId, fromDocument, isExpired, patchUpdate, toDocument } from './documents.ts'
import {
  type FirestoreJobStoreOptions,
  type FirestoreJobStoreRuntime,
  firestoreJobStoreOptions,
} from './options.ts'
import { FIRESTORE_TTL_FIELD, INDEXED_FILTERS } from './resources.ts'

/**
 * The JobStore on Firestore: `<prefix>jobs/<id>`, `<prefix>claims/<key>`, `<prefix>counters/<key>`, each
 * with `expireAt` for a TTL policy. Firestore deletes expired documents lazily, so every read treats an
 * expired document as absent. Conditional transitions and counters run in transactions; claims use
 * `create()` (ALREADY_EXISTS for a held key) and a transaction only to take over an expired one. List
 * queries use only the declared composite indexes (resources.ts) and filter the rest in the client.
 */
export class FirestoreJobStore implements JobStore {
  readonly driver = 'firestore'
  readonly requests = new RequestCounts()
  readonly options: FirestoreJobStoreOptions
  readonly #db: Firestore
  readonly #ownsClient: boolean
  readonly #clock: Clock
  readonly #jobs: CollectionReference
  readonly #claims: CollectionReference
  readonly #counters: CollectionReference
  readonly #adds = new Map<string, PendingAdd[]>()
  readonly #claiming = new Map<string, { value: string; result: Promise<ClaimResult> }>()
  readonly #io: FirestoreCalls

  constructor(options: Partial<FirestoreJobStoreOptions> = {}, runtime: FirestoreJobStoreRuntime = {}) {
    this.options = firestoreJobStoreOptions.parse('Firestore job store options', options)
    const o = this.options
    this.#clock = runtime.clock ?? systemClock
    this.#ownsClient = !runtime.firestore || runtime.terminateOnClose === true
    this.#db =
      runtime.firestore ??
      new Firestore({
        ...(o.projectId ? { projectId: o.projectId } : {}),
        ignoreUndefinedProperties: true,
        clientConfig: deadlines(o.requestTimeoutMs),
      })
    this.#io = new FirestoreCalls(this.#db, o.requestTimeoutMs, this.requests)
    this.#jobs = this.#db.collection(`${o.collectionPrefix}jobs`)
    this.#claims = this.#db.collection(`${o.collectionPrefix}claims`)
    this.#counters = this.#db.collection(`${o.collectionPrefix}counters`)
  }

  async create(job: NewJobRecord): Promise<boolean> {
    const record = newRecord(job, this.#clock.now(), this.options.recordTtlMs)
    const ref = this.#jobs.doc(docId(job.id))
    const data = toDocument(record, 0)
    try {
      await this.#io.call('create', 'write', () => ref.create(data))
      return true
    } catch (err) {
      if (!(err instanceof AlreadyExists)) throw err
    }
    // Taken: free again only if the stored record has expired (TTL deletion lags).
    return this.#io.transaction(async (tx) => {
      const snap = await tx.get(ref)
      if (snap.exists && !isExpired(snap.data(), this.#clock.now())) return false
      tx.set(ref, data)
      return true
    })
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const ref = this.#jobs.doc(docId(id))
    const snap = await this.#io.call('get', 'read', () => ref.get())
    const data = snap.data()
    return data && !isExpired(data, this.#clock.now()) ? fromDocument(data) : undefined
  }

  async transition(id: string, to: Transition): Promise<TransitionResult> {
    const resultJson =
      to.status === 'succeeded' ? serializeResult(to.result, this.options.resultMaxBytes) : undefined
    return this.#withJob<TransitionResult>(id, { applied: false }, (tx, ref, data, now) => {
      const patch = transitionPatch(to, now, this.options.recordTtlMs)
      if ((to.run !== undefined && to.run !== data.run) || (data.step as number) >= patch.step)
        return { applied: false, current: fromDocument(data) }
      if (to.status === 'retrying' && data.cancelRequested) {
        // A retry of a job asked to stop ends it instead (see the contract).
        const cancel = transitionPatch(
          { status: 'cancelled', attempt: to.attempt },
          now,
          this.options.recordTtlMs,
        )
        tx.update(ref, patchUpdate(cancel))
        return { applied: false, current: applyPatch(fromDocument(data), cancel) }
      }
      tx.update(ref, patchUpdate(patch, resultJson))
      return { applied: true }
    })
  }

  async progress(id: string, at: AttemptRef, progress: JobProgress): Promise<boolean> {
    return this.#withJob(id, false, (tx, ref, data, now) => {
      if (data.step !== stepOf('running', at.attempt)) return false
      if (at.run !== undefined && at.run !== data.run) return false
      tx.update(ref, { progress: normalizeProgress(progress), updatedAt: now })
      return true
    })
  }

  async requestCancel(id: string): Promise<CancelOutcome> {
    return this.#withJob(id, 'not_found' as CancelOutcome, (tx, ref, data, now) => {
      const status = data.status as JobRecord['status']
      if (isTerminal(status)) return 'finished'
      if (status === 'running') {
        tx.update(ref, { cancelRequested: true, updatedAt: now })
        return 'requested'
      }
      tx.update(ref, patchUpdate(transitionPatch({ status: 'cancelled' }, now, this.options.recordTtlMs)))
      return 'cancelled'
    })
  }

  async reopen(id: string): Promise<boolean> {
    return this.#withJob(id, false, (tx, ref, data, now) => {
      if (data.step !== TERMINAL_STEP) return false
      tx.update(ref, {
        ...patchUpdate(reopenPatch(now, this.options.recordTtlMs)),
        run: (data.run as number) + 1,
      })
      return true
    })
  }

  async list(query: JobQuery): Promise<JobPage> {
    const limit = pageSize(query)
    const indexed = INDEXED_FILTERS.find((fields) => fields.every((f) => query[f] !== undefined)) ?? []
    let base: Query = this.#jobs
    for (const field of indexed) base = base.where(field, '==', query[field])
    base = base.orderBy('createdAt', 'desc').orderBy(FieldPath.documentId(), 'desc')
    const readSize =
      indexed.length === filtersOf(query).length ? limit + 1 : Math.min(500, Math.max(50, limit * 2))
    const now = this.#clock.now()
    const items: JobRecord[] = []
    let last: { createdAt: number; id: string } | undefined = decodeCursor(query.cursor)
    for (;;) {
      let q = base.limit(readSize)
      if (last) q = q.startAfter(last.createdAt, docId(last.id))
      const snap = await this.#io.call('query', 'read', () => q.get())
      for (const doc of snap.docs) {
        const data = doc.data()
        const record = fromDocument(data)
        last = { createdAt: record.createdAt, id: record.id }
        if (isExpired(data, now) || !matchesQuery(record, query)) continue
        if (items.length === limit) return { items, nextCursor: encodeCursor(items.at(-1)!) }
        items.push(record)
      }
      if (snap.docs.length < readSize) return { items }
    }
  }

  async countByStatus(): Promise<StatusCounts> {
    const out: StatusCounts = {}
    const now = this.#clock.now()
    const snap = await this.#io.call('query', 'read', () =>
      this.#jobs.select('queue', 'status', FIRESTORE_TTL_FIELD).get(),
    )
    for (const doc of snap.docs) {
      const data = doc.data()
      if (!isExpired(data, now)) tally(out, data.queue as string, data.status as JobRecord['status'])
    }
    return out
  }

  /**
   * Concurrent claims of one key from this process send one request: the others lose to its winner
   * (it, or whoever held the key). A Firestore document takes about one write per second under
   * contention; 100 creates of one document queue behind each other's locks.
   */
  async claim(key: string, value: string, ttlMs: number): Promise<ClaimResult> {
    const first = this.#claiming.get(key)
    if (first) {
      const outcome = await first.result
      return { won: false, value: outcome.won ? first.value : outcome.value }
    }
    const result = this.#claimOnce(key, value, ttlMs)
    this.#claiming.set(key, { value, result })
    try {
      return await result
    } finally {
      this.#claiming.delete(key)
    }
  }

  async #claimOnce(key: string, value: string, ttlMs: number): Promise<ClaimResult> {
    const ref = this.#claims.doc(docId(key))
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const now = this.#clock.now()
      const data = { value, [FIRESTORE_TTL_FIELD]: Timestamp.fromMillis(now + ttlMs) }
      try {
        await this.#io.call('create', 'write', () => ref.create(data))
        return { won: true }
      } catch (err) {
        if (!(err instanceof AlreadyExists)) throw err
      }
      const snap = await this.#io.call('get', 'read', () => ref.get())
      const held = snap.data()
      if (held && !isExpired(held, now)) return { won: false, value: held.value as string }
      // Expired (TTL deletion lags): take it over unless someone else changed it since our read.
      if (
        held &&
        (await this.#io.compareAndSet('update', () => ref.update(data, { lastUpdateTime: snap.updateTime! })))
      )
        return { won: true }
    }
    throw new StoreUnavailableError(`claim ${key} kept changing; try again`)
  }

  async release(key: string, value?: string): Promise<boolean> {
    const ref = this.#claims.doc(docId(key))
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const snap = await this.#io.call('get', 'read', () => ref.get())
      const held = snap.data()
      if (!held || isExpired(held, this.#clock.now())) return false
      if (value !== undefined && held.value !== value) return false
      if (await this.#io.compareAndSet('delete', () => ref.delete({ lastUpdateTime: snap.updateTime! })))
        return true
    }
    throw new StoreUnavailableError(`claim ${key} kept changing; try again`)
  }

  /**
   * Concurrent adds to one key from this process share one transaction (each still gets its own total):
   * a Firestore document takes about one write per second under contention, so 50 separate
   * transactions on one counter would queue behind each other's locks.
   */
  add(key: string, delta: number, windowMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const waiting = this.#adds.get(key)
      const add = { delta, windowMs, resolve, reject }
      if (waiting) {
        waiting.push(add)
        return
      }
      this.#adds.set(key, [add])
      void this.#flushAdds(key)
    })
  }

  async #flushAdds(key: string): Promise<void> {
    const ref = this.#counters.doc(docId(key))
    for (;;) {
      const batch = this.#adds.get(key) ?? []
      if (batch.length === 0) {
        this.#adds.delete(key)
        return
      }
      this.#adds.set(key, [])
      try {
        const totals = await this.#addBatch(ref, key, batch)
        for (const [i, add] of batch.entries()) add.resolve(totals[i]!)
      } catch (err) {
        for (const add of batch) add.reject(err)
      }
    }
  }

  /**
   * One read and one conditional write (on the document's update time, or create-if-absent), again at
   * once if another process got there first: no transaction locks to wait behind on a hot counter.
   */
  async #addBatch(ref: DocumentReference, key: string, batch: PendingAdd[]): Promise<number[]> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const snap = await this.#io.call('get', 'read', () => ref.get())
      const data = snap.data()
      const now = this.#clock.now()
      let total = data && !isExpired(data, now) ? (data.total as number) : undefined
      let expireAt = data?.[FIRESTORE_TTL_FIELD] as Timestamp | undefined
      const totals: number[] = []
      for (const add of batch) {
        if (total === undefined) {
          total = 0
          expireAt = Timestamp.fromMillis(now + add.windowMs)
        }
        total += add.delta
        totals.push(total)
      }
      const next = { total, [FIRESTORE_TTL_FIELD]: expireAt }
      const written = snap.exists
        ? await this.#io.compareAndSet('update', () => ref.update(next, { lastUpdateTime: snap.updateTime! }))
        : await this.#io.compareAndSet('create', () => ref.create(next))
      if (written) return totals
    }
    throw new StoreUnavailableError(`counter ${key} kept changing; try again`)
  }

  async ping(): Promise<void> {
    await this.#io.call('get', 'read', () => this.#jobs.doc('ping').get())
  }

  /** Terminates the client (see FirestoreCalls.close for calls still running underneath). */
  async close(): Promise<void> {
    await this.#io.close(this.#ownsClient)
  }

  /** Runs `decide` on a live job inside a transaction; `absent` when there is none (or it expired). */
  #withJob<T>(
    id: string,
    absent: T,
    decide: (tx: Transaction, ref: DocumentReference, data: DocumentData, now: number) => T,
  ): Promise<T> {
    const ref = this.#jobs.doc(docId(id))
    return this.#io.transaction(async (tx) => {
      const data = (await tx.get(ref)).data()
      const now = this.#clock.now()
      if (!data || isExpired(data, now)) return absent
      return decide(tx, ref, data, now)
    })
  }
}

interface PendingAdd {
  delta: number
  windowMs: number
  resolve(total: number): void
  reject(err: unknown): void
}

function filtersOf(query: JobQuery): string[] {
  return (['owner', 'status', 'type', 'queue'] as const).filter((field) => query[field] !== undefined)
}
