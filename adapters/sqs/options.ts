import type { SQSClient } from '@aws-sdk/client-sqs'
import Type, { type Static } from 'typebox'
import type { Clock } from '../../src/clock.ts'
import type { Logger } from '../../src/logger.ts'
import type { ObjectStore } from '../../src/storage/object-store.ts'
import { SchemaChecker } from '../../src/validation.ts'

export const SqsOptionsSchema = Type.Object(
  {
    /** AWS region. Default: the SDK's chain (AWS_REGION, profile). */
    region: Type.Optional(Type.String({ minLength: 1 })),
    /** Endpoint override (an emulator). Default: the SDK's (AWS_ENDPOINT_URL_SQS is honoured by the SDK). */
    endpoint: Type.Optional(Type.String({ pattern: '^https?://', errorMessage: 'must be an http(s) URL' })),
    /** Prefix for every SQS queue name, e.g. `prod-`; logical `emails` becomes `prod-emails`. Default ''. */
    queuePrefix: Type.String({ pattern: '^[A-Za-z0-9_-]{0,40}$', default: '' }),
    /**
     * Deadline for every SQS call (connection included) other than the long poll, which gets its wait
     * time on top: a stalled network fails sends (a 503 from the API) and settlements within it. Default 5000 ms.
     */
    requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5_000 }),
    /** Long-poll wait per ReceiveMessage, 0-20 s. Default 20. */
    waitTimeSeconds: Type.Integer({ minimum: 0, maximum: 20, default: 20 }),
    /** Visibility timeout given on receive (rounded up to whole seconds). Default 30000 ms. */
    leaseMs: Type.Integer({ minimum: 1000, maximum: 43_200_000, default: 30_000 }),
    /** Longest native DelaySeconds (SQS allows 900); longer delays re-send a copy. Default 900. */
    maxDelaySeconds: Type.Integer({ minimum: 1, maximum: 900, default: 900 }),
    /** Bodies larger than this go to the object store with a pointer in the message. Default 262144. */
    claimCheckBytes: Type.Integer({ minimum: 1024, maximum: 1_048_576, default: 262_144 }),
    /** Key prefix for claim-checked bodies. Default `claim-checks/`. */
    claimCheckPrefix: Type.String({ default: 'claim-checks/' }),
    /** How long single sends and acks wait to share a batch request. Default 10 ms. */
    batchFlushMs: Type.Integer({ minimum: 0, maximum: 1000, default: 10 }),
    /** Create missing queues (and their DLQs) on first use. Default false: run `npm run provision`. */
    autoCreate: Type.Boolean({ default: false }),
    /** RedrivePolicy maxReceiveCount for created queues: the crash-loop safety net. Default 100. */
    maxReceiveCount: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
)

export type SqsOptions = Static<typeof SqsOptionsSchema>
export const sqsOptions = new SchemaChecker(SqsOptionsSchema)

export interface SqsRuntime {
  /** Use this client instead of making one from region/endpoint. */
  client?: SQSClient
  /** Where claim-checked bodies go; without it, a body over `claimCheckBytes` is sent inline if SQS takes it. */
  claimStore?: ObjectStore
  clock?: Clock
  logger?: Logger
}

/** SQS's own limits. */
export const SQS_MAX_BATCH = 10
export const SQS_MAX_BYTES = 1_048_576
export const SQS_MAX_VISIBILITY_SECONDS = 43_200
