export { type MemoryOptions, MemoryOptionsSchema } from './options.ts'
export { MemoryQueue, type MemoryRuntime } from './queue.ts'
