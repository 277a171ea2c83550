import { AwsTestBackend } from '../support/aws.ts'
import { runConformance } from './suite.ts'

const aws = new AwsTestBackend()

runConformance({
  name: 'sqs',
  capabilities: {
    leaseMs: 1_000, // SQS visibility is in whole seconds
    delayMs: 1_000,
    nativeDelayLimitMs: 1_000, // maxDelaySeconds shortened from 900 so the long-delay path runs in seconds
    approximateStats: true,
    reportsStats: true,
    eventTimeoutMs: 20_000,
  },
  setup: () => aws.start(),
  teardown: () => aws.stop(),
  createQueue: async () => aws.createQueue({ maxDelaySeconds: 1 }),
  queueName: (base) => aws.name(base),
  throughProxy: {
    port: () => aws.emulator?.port ?? 0,
    createQueue: async (endpoint, requestTimeoutMs) =>
      aws.createQueue({ endpoint, requestTimeoutMs, waitTimeSeconds: 1 }),
  },
})
