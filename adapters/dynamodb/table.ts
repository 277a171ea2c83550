import { type AttributeValue, type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb'
import { unmarshall } from '@aws-sdk/util-dynamodb'
import type { Clock } from '../../src/clock.ts'
import { StoreUnavailableError } from '../../src/errors.ts'
import type { RequestCounts } from '../../src/store/records.ts'
import { ConditionFailed, type Item, type Key } from './items.ts'

/**
 * The store's transport to its table: every request under the store's deadline (an AbortSignal, so an
 * unreachable or stalled endpoint rejects in time), counted, with failures other than a refused
 * condition turned into StoreUnavailableError.
 */
export class JobTable {
  readonly client: DynamoDBClient
  readonly name: string
  closed = false
  readonly #timeoutMs: number
  readonly #clock: Clock
  readonly #requests: RequestCounts

  constructor(
    client: DynamoDBClient,
    name: string,
    timeoutMs: number,
    clock: Clock,
    requests: RequestCounts,
  ) {
    this.client = client
    this.name = name
    this.#timeoutMs = timeoutMs
    this.#clock = clock
    this.#requests = requests
  }

  /** A consistent read of one item, absent when missing or expired. */
  async getItem(Key: Key, raw = false): Promise<Item | undefined> {
    const out = await this.read('GetItem', (signal) =>
      this.client.send(new GetItemCommand({ TableName: this.name, Key, ConsistentRead: true }), {
        abortSignal: signal,
      }),
    )
    if (!out.Item) return undefined
    const item = unmarshall(out.Item)
    return raw || this.live(item) ? item : undefined
  }

  /** Whether an item is before its expiry (TTL deletion lags, so an expired item may still be there). */
  live(item: Item): boolean {
    return typeof item.expiresAt !== 'number' || item.expiresAt * 1000 > this.#clock.now()
  }

  read<T>(operation: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.#requests.count(operation, 'read')
    return this.#call(operation, call)
  }

  /**
   * A conditional write: resolves undefined when it applied, or the refusal (with the stored item when
   * the backend returned it) when its condition failed.
   */
  async write(
    operation: string,
    call: (signal: AbortSignal) => Promise<unknown>,
  ): Promise<{ Item?: Item } | undefined> {
    this.#requests.count(operation, 'write')
    try {
      await this.#call(operation, call)
      return undefined
    } catch (err) {
      if (!(err instanceof ConditionFailed)) throw err
      return err.item ? { Item: err.item } : {}
    }
  }

  async #call<T>(operation: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError('the DynamoDB job store is closed')
    try {
      return await call(AbortSignal.timeout(this.#timeoutMs))
    } catch (err) {
      const e = err as { name?: string; message?: string; Item?: Record<string, AttributeValue> }
      if (e.name === 'ConditionalCheckFailedException')
        throw new ConditionFailed(e.Item && unmarshall(e.Item))
      throw new StoreUnavailableError(
        `DynamoDB ${operation} on ${this.name} failed: ${e.message ?? e.name}`,
        {
          cause: err,
        },
      )
    }
  }
}
