import { MemoryJobStore } from '../../adapters/memory/job-store.ts'
import type { Config } from '../../config/schema.ts'
import type { Clock } from '../clock.ts'
import { importOptional } from '../optional-import.ts'
import type { JobStore } from './job-store.ts'

export interface JobStoreRuntime {
  /** Defaults to the system clock. */
  clock?: Clock
}

/**
 * The JobStore the configuration asks for (`JOB_STORE`). The cloud backends are loaded on demand, so a
 * memory deployment never loads the AWS or Google SDKs.
 */
export async function createJobStore(config: Config, runtime: JobStoreRuntime = {}): Promise<JobStore> {
  const settings = config.jobStore
  const common = {
    recordTtlMs: Math.round(settings.recordTtlHours * 3_600_000),
    resultMaxBytes: settings.resultMaxBytes,
  }
  switch (settings.driver) {
    case 'memory':
      return new MemoryJobStore(common, runtime)
    case 'dynamodb': {
      const { DynamoJobStore } = await importOptional(
        () => import('../../adapters/dynamodb/index.ts'),
        'JOB_STORE=dynamodb',
      )
      return new DynamoJobStore(
        {
          ...common,
          table: settings.table,
          requestTimeoutMs: settings.requestTimeoutMs,
          ...(config.aws.region ? { region: config.aws.region } : {}),
          ...(settings.dynamodbEndpoint ? { endpoint: settings.dynamodbEndpoint } : {}),
        },
        runtime,
      )
    }
    case 'firestore': {
      const { FirestoreJobStore } = await importOptional(
        () => import('../../adapters/firestore/index.ts'),
        'JOB_STORE=firestore',
      )
      const projectId = settings.firestoreProjectId ?? config.pubsub.projectId
      return new FirestoreJobStore(
        {
          ...common,
          collectionPrefix: settings.collectionPrefix,
          requestTimeoutMs: settings.requestTimeoutMs,
          ...(projectId ? { projectId } : {}),
        },
        runtime,
      )
    }
  }
}
