// What a deployment needs, in one place: `npm run provision` creates it, and test/infra.test.ts checks
// that infra/aws/conveyor.yaml and infra/gcp/*.tf declare it, so the templates cannot drift from the code.
import { MemoryQueue } from '../adapters/memory/index.ts'
import type { Config } from '../config/schema.ts'
import { deploymentQueues, handlersFromConfig } from '../handlers/index.ts'
import { Producer } from '../src/producer.ts'

/** The queues of the shipped jobs (plus QUEUES=a,b): each gets a dead-letter queue / topic. */
export async function neededQueues(config: Config, extra = process.env.QUEUES ?? ''): Promise<string[]> {
  // Only the jobs' queue names are needed; nothing is sent through this producer.
  const shipped = await handlersFromConfig(config, {
    producer: new Producer({ queue: new MemoryQueue() }),
    secret: 'provisioning-does-not-sign-links',
    appUrl: config.app.url ?? 'http://localhost',
  })
  return deploymentQueues(shipped.jobs, extra)
}

export interface LifecycleRule {
  id: string
  /** Objects under this prefix are deleted `days` after they were written. */
  prefix?: string
  days?: number
  /** Unfinished multipart (S3) uploads are aborted after this many days. */
  abortIncompleteMultipartDays?: number
}

/**
 * The bucket's lifecycle: exports a day after EXPORT_TTL_HOURS (the cleanup job deletes them first; this
 * is the safety net), claim checks after 15 days (longer than any message lives: SQS keeps 14),
 * abandoned multipart uploads after a day (they are billed and invisible).
 */
export function bucketLifecycle(config: Config): LifecycleRule[] {
  return [
    { id: 'exports', prefix: 'exports/', days: Math.ceil(config.exports.ttlHours / 24) + 1 },
    { id: 'claim-checks', prefix: 'claim-checks/', days: 15 },
    { id: 'abort-multipart', abortIncompleteMultipartDays: 1 },
  ]
}

/**
 * The job ledger's tables (JOB_STORE_TABLE; names and keys as the job-store adapters use them).
 * DynamoDB: one table, `pk`/`sk`, GSI `byOwner` (owner, createdAt), TTL on `expiresAt` (epoch seconds).
 */
export const jobTable = {
  name: 'conveyor-jobs',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  indexes: [
    {
      name: 'byOwner',
      partitionKey: { name: 'owner', type: 'S' },
      sortKey: { name: 'createdAt', type: 'N' },
    },
  ],
  ttlAttribute: 'expiresAt',
  billingMode: 'PAY_PER_REQUEST',
  /** What the API and the worker may do on the table and its indexes. */
  actions: [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:Query',
  ],
} as const

/** Firestore: the ledger's collections, composite indexes (the real service needs them) and TTL field. */
export const jobCollections = {
  collections: ['conveyor-jobs', 'conveyor-claims', 'conveyor-counters'],
  indexes: [
    {
      collection: 'conveyor-jobs',
      fields: [
        ['owner', 'ASCENDING'],
        ['createdAt', 'DESCENDING'],
      ],
    },
    {
      collection: 'conveyor-jobs',
      fields: [
        ['owner', 'ASCENDING'],
        ['status', 'ASCENDING'],
        ['createdAt', 'DESCENDING'],
      ],
    },
    {
      collection: 'conveyor-jobs',
      fields: [
        ['owner', 'ASCENDING'],
        ['type', 'ASCENDING'],
        ['createdAt', 'DESCENDING'],
      ],
    },
    {
      collection: 'conveyor-jobs',
      fields: [
        ['status', 'ASCENDING'],
        ['createdAt', 'DESCENDING'],
      ],
    },
    {
      collection: 'conveyor-jobs',
      fields: [
        ['queue', 'ASCENDING'],
        ['status', 'ASCENDING'],
        ['createdAt', 'DESCENDING'],
      ],
    },
  ] as { collection: string; fields: [string, 'ASCENDING' | 'DESCENDING'][] }[],
  ttlField: { collection: 'conveyor-jobs', field: 'expireAt' },
  role: 'roles/datastore.user',
}

/** S3 actions each AWS role needs on the bucket's objects (AbortMultipartUpload: a failed streamed upload cleans up). */
export const s3ObjectActions = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']
