export { DynamoJobStore } from './job-store.ts'
export {
  type DynamoJobStoreOptions,
  DynamoJobStoreOptionsSchema,
  type DynamoJobStoreRuntime,
  TABLE_LAYOUT,
} from './options.ts'
export { ensureJobTable, type TableStatus } from './resources.ts'
