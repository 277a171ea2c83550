export { MemoryJobStore, type MemoryJobStoreOptions, type MemoryJobStoreRuntime } from './job-store.ts'
export { type MemoryOptions, MemoryOptionsSchema } from './options.ts'
export { MemoryQueue, type MemoryRuntime } from './queue.ts'
