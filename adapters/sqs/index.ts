export { type SqsOptions, SqsOptionsSchema, type SqsRuntime } from './options.ts'
export { SqsQueue } from './queue.ts'
export { type QueueUrls, SqsResources } from './resources.ts'
