import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { ensureJobTable } from '../adapters/dynamodb/index.ts'
import { type Dynalite, startDynalite } from './support/stores.ts'

let dynalite: Dynalite
let client: DynamoDBClient

before(async () => {
  dynalite = await startDynalite()
  client = new DynamoDBClient({ endpoint: dynalite.endpoint })
})
after(async () => {
  client.destroy()
  await dynalite.stop()
})

test('job store provisioning: the table gets its keys and byOwner index, and a second run changes nothing', async () => {
  const first = await ensureJobTable(client, 'ledger-a')
  assert.equal(first.table, 'created')
  // dynalite has no UpdateTimeToLive; a real table gets TTL on expiresAt.
  assert.equal(first.ttl, 'unsupported')
  assert.equal((await ensureJobTable(client, 'ledger-a')).table, 'exists')
  const { Table } = await client.send(new DescribeTableCommand({ TableName: 'ledger-a' }))
  assert.deepEqual(Table?.KeySchema, [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ])
  const index = Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === 'byOwner')
  assert.deepEqual(index?.KeySchema, [
    { AttributeName: 'owner', KeyType: 'HASH' },
    { AttributeName: 'createdAt', KeyType: 'RANGE' },
  ])
  assert.equal(index?.Projection?.ProjectionType, 'ALL')
})

test('job store provisioning: `npm run provision` with JOB_STORE=dynamodb creates the table', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['infra/provision.ts'], {
    env: {
      ...process.env,
      JOB_STORE: 'dynamodb',
      JOB_STORE_TABLE: 'ledger-b',
      DYNAMODB_ENDPOINT: dynalite.endpoint,
      QUEUE_DRIVER: 'memory',
    },
  })
  assert.match(stdout, /dynamodb table ledger-b: created/)
  const { Table } = await client.send(new DescribeTableCommand({ TableName: 'ledger-b' }))
  assert.equal(Table?.TableStatus, 'ACTIVE')
})
