export { type PubSubOptions, PubSubOptionsSchema, type PubSubRuntime } from './options.ts'
export { PubSubQueue } from './queue.ts'
export { PubSubResources, type QueueNames } from './resources.ts'
