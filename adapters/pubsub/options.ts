import type { PubSub } from '@google-cloud/pubsub'
import Type, { type Static } from 'typebox'
import type { Clock } from '../../src/clock.ts'
import type { Logger } from '../../src/logger.ts'
import type { ObjectStore } from '../../src/storage/object-store.ts'
import { SchemaChecker } from '../../src/validation.ts'

export const PubSubOptionsSchema = Type.Object(
  {
    /** Google Cloud project. Default: the client's (GOOGLE_CLOUD_PROJECT, credentials). */
    projectId: Type.Optional(Type.String({ minLength: 1 })),
    /** host:port of the Pub/Sub API (an emulator, a proxy). Default: PUBSUB_EMULATOR_HOST, else Google's. */
    apiEndpoint: Type.Optional(Type.String({ minLength: 1 })),
    /** Prefix for every topic and subscription name, e.g. `prod-`. Default ''. */
    topicPrefix: Type.String({ pattern: '^[A-Za-z0-9_-]{0,40}$', default: '' }),
    /** Consumer group: workers sharing it share the work (one subscription per group). Default `workers`. */
    group: Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$', default: 'workers' }),
    /** Subscription ack deadline, 10-600 s (the client extends it while a job runs). Default 30000 ms. */
    leaseMs: Type.Integer({ minimum: 10_000, maximum: 600_000, default: 30_000 }),
    /** Dead-letter policy max delivery attempts (5-100): the crash-loop safety net. Default 100. */
    maxDeliveryAttempts: Type.Integer({ minimum: 5, maximum: 100, default: 100 }),
    /**
     * The delay relay holds a waiting message this long at most before letting it come back, which
     * bounds how late a delayed message can be after a relay crashes. Default 60000 ms.
     */
    relayHoldMs: Type.Integer({ minimum: 10_000, maximum: 600_000, default: 60_000 }),
    /** Bodies larger than this go to the object store with a pointer in the message. Default 8 MiB. */
    claimCheckBytes: Type.Integer({ minimum: 1024, maximum: 10_000_000, default: 8 * 1024 * 1024 }),
    claimCheckPrefix: Type.String({ default: 'claim-checks/' }),
    /**
     * Deadline for a send (resource checks and publish, the client's retries included) and for the other
     * calls Conveyor makes itself: a stalled network fails a send (a 503 from the API) within it rather
     * than after the client's 600 s of retries. Default 5000 ms.
     */
    requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5_000 }),
    /**
     * How long a pull waits for messages before answering empty. Stopping a consumer lets the pull under
     * way finish (a cancelled pull's messages could stay hidden for a whole ack deadline), so it can take
     * this long. Default 4000 ms.
     */
    pullWaitMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 4_000 }),
    /** Publishes, acks and nacks wait this long to share a batch. Default 10 ms. */
    batchFlushMs: Type.Integer({ minimum: 0, maximum: 1000, default: 10 }),
    /** Create missing topics and subscriptions on first use. Default false: run `npm run provision`. */
    autoCreate: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
)

export type PubSubOptions = Static<typeof PubSubOptionsSchema>
export const pubsubOptions = new SchemaChecker(PubSubOptionsSchema)

export interface PubSubRuntime {
  client?: PubSub
  claimStore?: ObjectStore
  clock?: Clock
  logger?: Logger
}

export const PUBSUB_MAX_BYTES = 10_000_000
export const DEAD_LETTER_ATTRIBUTE = 'conveyor-dead-letter'
