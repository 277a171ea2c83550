import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoJobStore, ensureJobTable } from '../../adapters/dynamodb/index.ts'
import { freePort } from '../support/ports.ts'
import { type Dynalite, startDynalite, startStalledServer } from '../support/stores.ts'
import { runJobStoreConformance } from './job-store-suite.ts'

let dynalite: Dynalite | undefined
const table = 'conveyor-jobs-test'

runJobStoreConformance({
  name: 'dynamodb',
  capabilities: {
    orderedListWithoutOwner: false,
    expiryGranularityMs: 1_000,
    shortPages: false,
    readsPerTransition: 0,
    remote: true,
  },
  setup: async () => {
    dynalite = await startDynalite()
    const client = new DynamoDBClient({ endpoint: dynalite.endpoint })
    await ensureJobTable(client, table)
    client.destroy()
  },
  teardown: async () => {
    await dynalite?.stop()
  },
  createStore: async ({ clock, ...options } = {}) =>
    new DynamoJobStore(
      { table, endpoint: dynalite!.endpoint, requestTimeoutMs: 15_000, ...options },
      clock ? { clock } : {},
    ),
  createUnreachableStore: async (kind) => {
    if (kind === 'closed') {
      const port = await freePort()
      return {
        store: new DynamoJobStore({ table, endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: 500 }),
        stop: async () => {},
      }
    }
    const stalled = await startStalledServer()
    return {
      store: new DynamoJobStore({ table, endpoint: `http://${stalled.host}`, requestTimeoutMs: 500 }),
      stop: stalled.stop,
    }
  },
})
