import type { Firestore } from '@google-cloud/firestore'
import Type, { type Static } from 'typebox'
import type { Clock } from '../../src/clock.ts'
import { SchemaChecker } from '../../src/validation.ts'

export const FirestoreJobStoreOptionsSchema = Type.Object(
  {
    /** Google Cloud project. Default: from the credentials (FIRESTORE_EMULATOR_HOST points the client at an emulator). */
    projectId: Type.Optional(Type.String({ minLength: 1 })),
    /** Prefix of the collections `<prefix>jobs`, `<prefix>claims`, `<prefix>counters`. Default `conveyor-`. */
    collectionPrefix: Type.String({ pattern: '^[A-Za-z0-9_-]*$', default: 'conveyor-' }),
    /** Longest one store call may take (including the client's retries) before StoreUnavailableError. Default 3000 ms. */
    requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 3_000 }),
    /** How long a record is kept after its last write (after it finishes, for a finished job). Default 168 h. */
    recordTtlMs: Type.Integer({ minimum: 1, default: 168 * 3_600_000 }),
    /** Largest `result`, as JSON bytes (a Firestore document holds at most 1 MiB). Default 64 KiB. */
    resultMaxBytes: Type.Integer({ minimum: 1, maximum: 900_000, default: 65_536 }),
  },
  { additionalProperties: false },
)

export type FirestoreJobStoreOptions = Static<typeof FirestoreJobStoreOptionsSchema>
export const firestoreJobStoreOptions = new SchemaChecker(FirestoreJobStoreOptionsSchema)

export interface FirestoreJobStoreRuntime {
  /** Use this client instead of making one. The store does not terminate it unless `terminateOnClose`. */
  firestore?: Firestore
  terminateOnClose?: boolean
  /** Defaults to the system clock. */
  clock?: Clock
}
