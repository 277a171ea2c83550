import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import Type, { type Static } from 'typebox'
import type { Clock } from '../../src/clock.ts'
import { SchemaChecker } from '../../src/validation.ts'

export const DynamoJobStoreOptionsSchema = Type.Object(
  {
    /** The one table (partition key `pk`, sort key `sk`, index `byOwner`, TTL on `expiresAt`). Default `conveyor-jobs`. */
    table: Type.String({ pattern: '^[A-Za-z0-9_.-]{3,255}$', default: 'conveyor-jobs' }),
    /** AWS region. Default: the SDK's chain (AWS_REGION, profile). */
    region: Type.Optional(Type.String({ minLength: 1 })),
    /** Endpoint override (dynalite, DynamoDB Local). Default: AWS. */
    endpoint: Type.Optional(Type.String({ pattern: '^https?://', errorMessage: 'must be an http(s) URL' })),
    /** Longest one store call may take (connect, request and the SDK's retries) before StoreUnavailableError. Default 3000 ms. */
    requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 3_000 }),
    /** How long a record is kept after its last write (after it finishes, for a finished job). Default 168 h. */
    recordTtlMs: Type.Integer({ minimum: 1, default: 168 * 3_600_000 }),
    /** Largest `result`, as JSON bytes (a DynamoDB item holds at most 400 KB). Default 64 KiB. */
    resultMaxBytes: Type.Integer({ minimum: 1, maximum: 300_000, default: 65_536 }),
  },
  { additionalProperties: false },
)

export type DynamoJobStoreOptions = Static<typeof DynamoJobStoreOptionsSchema>
export const dynamoJobStoreOptions = new SchemaChecker(DynamoJobStoreOptionsSchema)

export interface DynamoJobStoreRuntime {
  /** Use this client instead of making one from region/endpoint/requestTimeoutMs (the store does not destroy it). */
  client?: DynamoDBClient
  /** Defaults to the system clock. */
  clock?: Clock
}

/** The table's layout, shared by the store and provisioning. */
export const TABLE_LAYOUT = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ownerIndex: 'byOwner',
  /** Epoch seconds: DynamoDB's TTL deletes an item some time (up to days) after it. */
  ttlAttribute: 'expiresAt',
} as const
