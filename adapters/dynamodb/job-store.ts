import {
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb'
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
  decodeCursor,
  encodeCursor,
  isTerminal,
  newRecord,
  normalizeProgress,
  type Patch,
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
import { Expr } from './expressions.ts'
import { fromItem, type Item, jobKey, jobKeyValues, type Key, toItem } from './items.ts'
import { type DynamoJobStoreOptions, type DynamoJobStoreRuntime, dynamoJobStoreOptions } from './options.ts'
import { JobTable } from './table.ts'

const RETRIES = 8

/**
 * The JobStore on one DynamoDB table. Items: `job#<id>` (a record), `claim#<key>`, `counter#<key>`, all
 * with sort key `sk`; `expiresAt` (epoch seconds) is the table's TTL attribute. Real DynamoDB deletes
 * expired items lazily (up to days later), so every read also treats an expired item as absent, and
 * every conditional write counts it as absent. Each write is one conditional request; a refused write
 * learns the stored item from the same response (ReturnValuesOnConditionCheckFailure), or with one
 * consistent read where the backend does not return it (emulators).
 */
export class DynamoJobStore implements JobStore {
  readonly driver = 'dynamodb'
  readonly requests = new RequestCounts()
  readonly options: DynamoJobStoreOptions
  readonly #table: JobTable
  readonly #ownsClient: boolean
  readonly #clock: Clock

  constructor(options: Partial<DynamoJobStoreOptions> = {}, runtime: DynamoJobStoreRuntime = {}) {
    this.options = dynamoJobStoreOptions.parse('DynamoDB job store options', options)
    const o = this.options
    this.#clock = runtime.clock ?? systemClock
    this.#ownsClient = !runtime.client
    const client =
      runtime.client ??
      new DynamoDBClient({
        ...(o.region ? { region: o.region } : {}),
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        maxAttempts: 2,
        requestHandler: { connectionTimeout: o.requestTimeoutMs, requestTimeout: o.requestTimeoutMs },
      })
    this.#table = new JobTable(client, o.table, o.requestTimeoutMs, this.#clock, this.requests)
  }

  async create(job: NewJobRecord): Promise<boolean> {
    const record = newRecord(job, this.#clock.now(), this.options.recordTtlMs)
    const e = new Expr()
    const cond = `attribute_not_exists(${e.name('pk')}) OR ${this.#expired(e)}`
    const item = { ...jobKeyValues(job.id), ...toItem(record), step: 0 }
    const failed = await this.#table.write('PutItem', (signal) =>
      this.#table.client.send(
        new PutItemCommand({
          TableName: this.options.table,
          Item: marshall(item, { removeUndefinedValues: true }),
          ConditionExpression: cond,
          ...e.params(),
        }),
        { abortSignal: signal },
      ),
    )
    return failed === undefined
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const item = await this.#table.getItem(jobKey(id))
    return item && fromItem(item)
  }

  async transition(id: string, to: Transition): Promise<TransitionResult> {
    const resultJson =
      to.status === 'succeeded' ? serializeResult(to.result, this.options.resultMaxBytes) : undefined
    const patch = transitionPatch(to, this.#clock.now(), this.options.recordTtlMs)
    const outcome = await this.#updateJob(id, patch, to.run, {
      resultJson,
      refuseIfCancelRequested: to.status === 'retrying',
    })
    if (outcome.applied) return { applied: true }
    const current = outcome.current
    if (!current) return { applied: false }
    // A retry of a job asked to stop ends it instead (see the contract).
    const beats = (to.run === undefined || to.run === current.run) && current.step < patch.step
    if (to.status === 'retrying' && current.record.cancelRequested && beats) {
      const cancel = transitionPatch(
        { status: 'cancelled', attempt: to.attempt },
        this.#clock.now(),
        this.options.recordTtlMs,
      )
      const cancelled = await this.#updateJob(id, cancel, current.run, {
        expectStep: current.step,
        returnNew: true,
      })
      if (cancelled.applied) return { applied: false, current: cancelled.record }
      return this.transition(id, to)
    }
    return { applied: false, current: current.record }
  }

  async progress(id: string, at: AttemptRef, progress: JobProgress): Promise<boolean> {
    const patch: Patch = {
      set: { progress: normalizeProgress(progress), updatedAt: this.#clock.now() },
      remove: [],
      step: stepOf('running', at.attempt),
    }
    const outcome = await this.#updateJob(id, patch, at.run, { expectStep: patch.step, skipRead: true })
    return outcome.applied
  }

  async requestCancel(id: string): Promise<CancelOutcome> {
    const now = this.#clock.now()
    for (let i = 0; i < RETRIES; i++) {
      // Most cancels are of jobs that have not started: one conditional write.
      const e = new Expr()
      const notStarted = ['queued', 'delayed', 'retrying'].map((s) => e.value(s)).join(', ')
      const patch = transitionPatch({ status: 'cancelled' }, now, this.options.recordTtlMs)
      const tried = await this.#updateJob(id, patch, undefined, {
        condition: (x) => `${x.name('status')} IN (${notStarted})`,
        expr: e,
      })
      if (tried.applied) return 'cancelled'
      const current = tried.current
      if (!current) return 'not_found'
      if (isTerminal(current.record.status)) return 'finished'
      if (current.record.status !== 'running') continue
      const flag: Patch = { set: { cancelRequested: true, updatedAt: now }, remove: [], step: current.step }
      const requested = await this.#updateJob(id, flag, current.run, {
        expectStep: current.step,
        skipRead: true,
      })
      if (requested.applied) return 'requested'
    }
    throw new StoreUnavailableError(`job ${id} kept changing while it was being cancelled; try again`)
  }

  async reopen(id: string): Promise<boolean> {
    const patch = reopenPatch(this.#clock.now(), this.options.recordTtlMs)
    const e = new Expr()
    const outcome = await this.#updateJob(id, patch, undefined, {
      expectStep: TERMINAL_STEP,
      skipRead: true,
      expr: e,
      extraSet: [`${e.name('run')} = ${e.name('run')} + ${e.value(1)}`],
    })
    return outcome.applied
  }

  async list(query: JobQuery): Promise<JobPage> {
    const limit = pageSize(query)
    const after = decodeCursor(query.cursor)
    const items: JobRecord[] = []
    let startKey: Key | undefined = after && this.#listKey(after, query.owner)
    // Read a little more than asked: the filters apply after the read.
    const readSize = Math.min(1_000, Math.max(50, limit * 2))
    for (;;) {
      const e = new Expr()
      const filters = [`${e.name('expiresAt')} > ${e.value(this.#clock.now() / 1000)}`]
      for (const field of ['status', 'type', 'queue'] as const)
        if (query[field] !== undefined) filters.push(`${e.name(field)} = ${e.value(query[field])}`)
      const page = query.owner
        ? await this.#table.read('Query', (signal) =>
            this.#table.client.send(
              new QueryCommand({
                TableName: this.options.table,
                IndexName: 'byOwner',
                KeyConditionExpression: `${e.name('owner')} = ${e.value(query.owner)}`,
                FilterExpression: filters.join(' AND '),
                ScanIndexForward: false,
                Limit: readSize,
                ...(startKey ? { ExclusiveStartKey: startKey } : {}),
                ...e.params(),
              }),
              { abortSignal: signal },
            ),
          )
        : await this.#table.read('Scan', (signal) =>
            this.#table.client.send(
              new ScanCommand({
                TableName: this.options.table,
                FilterExpression: [`begins_with(${e.name('pk')}, ${e.value('job#')})`, ...filters].join(
                  ' AND ',
                ),
                Limit: readSize,
                ...(startKey ? { ExclusiveStartKey: startKey } : {}),
                ...e.params(),
              }),
              { abortSignal: signal },
            ),
          )
      const found = (page.Items ?? []).map((i) => fromItem(unmarshall(i)))
      const room = limit - items.length
      items.push(...found.slice(0, room))
      const last = items.at(-1)
      if (found.length > room && last) return { items, nextCursor: encodeCursor(last) }
      if (!page.LastEvaluatedKey) return { items }
      if (items.length === limit && last) return { items, nextCursor: encodeCursor(last) }
      startKey = page.LastEvaluatedKey
    }
  }

  async countByStatus(): Promise<StatusCounts> {
    const out: StatusCounts = {}
    let startKey: Key | undefined
    do {
      const e = new Expr()
      const page = await this.#table.read('Scan', (signal) =>
        this.#table.client.send(
          new ScanCommand({
            TableName: this.options.table,
            ProjectionExpression: `${e.name('queue')}, ${e.name('status')}`,
            FilterExpression: `begins_with(${e.name('pk')}, ${e.value('job#')}) AND ${e.name('expiresAt')} > ${e.value(this.#clock.now() / 1000)}`,
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
            ...e.params(),
          }),
          { abortSignal: signal },
        ),
      )
      for (const raw of page.Items ?? []) {
        const { queue, status } = unmarshall(raw) as Pick<JobRecord, 'queue' | 'status'>
        tally(out, queue, status)
      }
      startKey = page.LastEvaluatedKey
    } while (startKey)
    return out
  }

  async claim(key: string, value: string, ttlMs: number): Promise<ClaimResult> {
    for (let i = 0; i < RETRIES; i++) {
      const now = this.#clock.now()
      const e = new Expr()
      const until = now + ttlMs
      const item = { pk: `claim#${key}`, sk: 'claim', value, until, expiresAt: Math.ceil(until / 1000) }
      const failed = await this.#table.write('PutItem', (signal) =>
        this.#table.client.send(
          new PutItemCommand({
            TableName: this.options.table,
            Item: marshall(item),
            ConditionExpression: `attribute_not_exists(${e.name('pk')}) OR ${e.name('until')} <= ${e.value(now)}`,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            ...e.params(),
          }),
          { abortSignal: signal },
        ),
      )
      if (!failed) return { won: true }
      const held =
        failed.Item ?? (await this.#table.getItem({ pk: { S: `claim#${key}` }, sk: { S: 'claim' } }, true))
      if (held && (held.until as number) > now) return { won: false, value: held.value as string }
      // Released or expired between our write and our read: try again.
    }
    throw new StoreUnavailableError(`claim ${key} kept changing; try again`)
  }

  async release(key: string, value?: string): Promise<boolean> {
    const e = new Expr()
    const conds = [`attribute_exists(${e.name('pk')})`, `${e.name('until')} > ${e.value(this.#clock.now())}`]
    if (value !== undefined) conds.push(`${e.name('value')} = ${e.value(value)}`)
    const failed = await this.#table.write('DeleteItem', (signal) =>
      this.#table.client.send(
        new DeleteItemCommand({
          TableName: this.options.table,
          Key: { pk: { S: `claim#${key}` }, sk: { S: 'claim' } },
          ConditionExpression: conds.join(' AND '),
          ...e.params(),
        }),
        { abortSignal: signal },
      ),
    )
    return failed === undefined
  }

  async add(key: string, delta: number, windowMs: number): Promise<number> {
    const Key = { pk: { S: `counter#${key}` }, sk: { S: 'counter' } }
    for (let i = 0; i < RETRIES; i++) {
      const now = this.#clock.now()
      // The common case: the window is open; add to it.
      const e = new Expr()
      let total: number | undefined
      const added = await this.#table.write('UpdateItem', async (signal) => {
        const out = await this.#table.client.send(
          new UpdateItemCommand({
            TableName: this.options.table,
            Key,
            UpdateExpression: `ADD ${e.name('total')} ${e.value(delta)}`,
            ConditionExpression: `attribute_exists(${e.name('pk')}) AND ${e.name('until')} > ${e.value(now)}`,
            ReturnValues: 'UPDATED_NEW',
            ...e.params(),
          }),
          { abortSignal: signal },
        )
        total = unmarshall(out.Attributes ?? {}).total as number
      })
      if (!added) return total!
      // No counter, or its window ended: start a new window (exactly one concurrent caller does).
      const r = new Expr()
      const until = now + windowMs
      const started = await this.#table.write('UpdateItem', (signal) =>
        this.#table.client.send(
          new UpdateItemCommand({
            TableName: this.options.table,
            Key,
            UpdateExpression: r.update({ total: delta, until, expiresAt: Math.ceil(until / 1000) }),
            ConditionExpression: `attribute_not_exists(${r.name('pk')}) OR ${r.name('until')} <= ${r.value(now)}`,
            ...r.params(),
          }),
          { abortSignal: signal },
        ),
      )
      if (!started) return delta
    }
    throw new StoreUnavailableError(`counter ${key} kept changing; try again`)
  }

  async ping(): Promise<void> {
    await this.#table.getItem({ pk: { S: 'ping' }, sk: { S: 'ping' } })
  }

  async close(): Promise<void> {
    if (this.#table.closed) return
    this.#table.closed = true
    if (this.#ownsClient) this.#table.client.destroy()
  }

  /** `#expiresAt <= now` (in the TTL attribute's seconds). */
  #expired(e: Expr): string {
    return `${e.name('expiresAt')} <= ${e.value(this.#clock.now() / 1000)}`
  }

  #listKey(after: { createdAt: number; id: string }, owner: string | undefined): Key {
    return marshall({ ...jobKeyValues(after.id), ...(owner ? { owner, createdAt: after.createdAt } : {}) })
  }

  /**
   * One conditional UpdateItem of a live job record: applies `patch` if the stored run matches `run`
   * (when given) and the stored step is below the patch's (or equal to `expectStep`). When refused,
   * `current` is the stored record (absent: no live record) unless `skipRead`.
   */
  async #updateJob(
    id: string,
    patch: Patch,
    run: number | undefined,
    opts: {
      resultJson?: string | undefined
      refuseIfCancelRequested?: boolean
      expectStep?: number
      skipRead?: boolean
      returnNew?: boolean
      condition?: (e: Expr) => string
      expr?: Expr
      extraSet?: string[]
    } = {},
  ): Promise<
    | { applied: true; record?: JobRecord }
    | { applied: false; current?: { record: JobRecord; step: number; run: number } }
  > {
    const e = opts.expr ?? new Expr()
    const set: Item = { ...patch.set, step: patch.step }
    if (opts.resultJson !== undefined) set.resultJson = opts.resultJson
    const remove = patch.remove.map((f) => (f === 'result' ? 'resultJson' : f))
    if (set.expiresAt !== undefined) set.expiresAt = Math.ceil((set.expiresAt as number) / 1000)
    const conds = [`attribute_exists(${e.name('pk')})`, `NOT (${this.#expired(e)})`]
    if (opts.condition) conds.push(opts.condition(e))
    else if (opts.expectStep !== undefined) conds.push(`${e.name('step')} = ${e.value(opts.expectStep)}`)
    else conds.push(`${e.name('step')} < ${e.value(patch.step)}`)
    if (run !== undefined) conds.push(`${e.name('run')} = ${e.value(run)}`)
    if (opts.refuseIfCancelRequested) conds.push(`attribute_not_exists(${e.name('cancelRequested')})`)
    let record: JobRecord | undefined
    const failed = await this.#table.write('UpdateItem', async (signal) => {
      const out = await this.#table.client.send(
        new UpdateItemCommand({
          TableName: this.options.table,
          Key: jobKey(id),
          UpdateExpression: e.update(set, remove, opts.extraSet),
          ConditionExpression: conds.join(' AND '),
          ReturnValues: opts.returnNew ? 'ALL_NEW' : 'NONE',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          ...e.params(),
        }),
        { abortSignal: signal },
      )
      if (out.Attributes) record = fromItem(unmarshall(out.Attributes))
    })
    if (!failed) return record ? { applied: true, record } : { applied: true }
    if (opts.skipRead) return { applied: false }
    const item =
      failed.Item && this.#table.live(failed.Item)
        ? failed.Item
        : failed.Item
          ? undefined
          : await this.#table.getItem(jobKey(id))
    if (!item) return { applied: false }
    return {
      applied: false,
      current: { record: fromItem(item), step: item.step as number, run: item.run as number },
    }
  }
}
