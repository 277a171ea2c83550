export { FirestoreJobStore } from './job-store.ts'
export {
  type FirestoreJobStoreOptions,
  FirestoreJobStoreOptionsSchema,
  type FirestoreJobStoreRuntime,
} from './options.ts'
export { FIRESTORE_COLLECTIONS, FIRESTORE_JOB_INDEXES, FIRESTORE_TTL_FIELD } from './resources.ts'
