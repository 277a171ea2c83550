import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { ensureJobTable } from '../../adapters/dynamodb/index.ts'
import { startFirestoreEmulator } from '../support/firestore-emulator.ts'
import { startDynalite } from '../support/stores.ts'

/** The DynamoDB job store on dynalite (started here), as settings for every process. */
export async function dynamoStore(): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  const dynalite = await startDynalite()
  const table = 'conveyor-multiprocess'
  const client = new DynamoDBClient({ endpoint: dynalite.endpoint })
  await ensureJobTable(client, table)
  client.destroy()
  return {
    env: {
      JOB_STORE: 'dynamodb',
      DYNAMODB_ENDPOINT: dynalite.endpoint,
      JOB_STORE_TABLE: table,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    stop: () => dynalite.stop(),
  }
}

/** The Firestore job store on Google's emulator (started here), as settings for every process. */
export async function firestoreStore(): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  const emulator = await startFirestoreEmulator()
  return {
    env: {
      JOB_STORE: 'firestore',
      FIRESTORE_EMULATOR_HOST: emulator.host,
      FIRESTORE_PROJECT_ID: emulator.projectId,
      FIRESTORE_COLLECTION_PREFIX: `mp${Date.now().toString(36)}-`,
      METADATA_SERVER_DETECTION: 'none',
    },
    stop: () => emulator.stop(),
  }
}
