import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb'
import { TABLE_LAYOUT } from './options.ts'

export interface TableStatus {
  table: 'created' | 'exists'
  /** `enabled`: DynamoDB deletes expired items (lazily); `unsupported`: the endpoint has no TTL API (an emulator). */
  ttl: 'enabled' | 'unsupported'
}

/**
 * Creates the job store's table if it is missing (idempotent; `npm run provision` and the tests use
 * it): on-demand billing, key `pk`/`sk`, the `byOwner` index (owner, createdAt) for newest-first lists,
 * TTL on `expiresAt`. Reads never rely on TTL deletion (it lags by up to days), so a backend without the
 * TTL API still behaves the same; its items are just never deleted.
 */
export async function ensureJobTable(client: DynamoDBClient, table: string): Promise<TableStatus> {
  const { partitionKey, sortKey, ownerIndex, ttlAttribute } = TABLE_LAYOUT
  let created: TableStatus['table'] = 'created'
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: partitionKey, AttributeType: 'S' },
          { AttributeName: sortKey, AttributeType: 'S' },
          { AttributeName: 'owner', AttributeType: 'S' },
          { AttributeName: 'createdAt', AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: ownerIndex,
            KeySchema: [
              { AttributeName: 'owner', KeyType: 'HASH' },
              { AttributeName: 'createdAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    )
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceInUseException') throw err
    created = 'exists'
  }
  await waitUntilTableExists({ client, maxWaitTime: 300, minDelay: 1, maxDelay: 5 }, { TableName: table })
  return { table: created, ttl: await enableTtl(client, table, ttlAttribute) }
}

async function enableTtl(
  client: DynamoDBClient,
  table: string,
  attribute: string,
): Promise<TableStatus['ttl']> {
  try {
    const { TimeToLiveDescription: ttl } = await client.send(
      new DescribeTimeToLiveCommand({ TableName: table }),
    )
    if (
      ttl?.AttributeName === attribute &&
      (ttl.TimeToLiveStatus === 'ENABLED' || ttl.TimeToLiveStatus === 'ENABLING')
    )
      return 'enabled'
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
      }),
    )
    return 'enabled'
  } catch (err) {
    if ((err as { name?: string }).name === 'UnknownOperationException') return 'unsupported'
    throw err
  }
}
