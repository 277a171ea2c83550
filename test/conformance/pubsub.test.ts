import { PubSubQueue } from '../../adapters/pubsub/index.ts'
import { testLogger } from '../support/async.ts'
import {
  deletePubSubResources,
  type PubSubEmulator,
  pubsubSkipReason,
  startPubSubEmulator,
} from '../support/pubsub-emulator.ts'
import { runConformance } from './suite.ts'

const skip = pubsubSkipReason()
let emulator: PubSubEmulator | undefined
const runId = `t${Date.now().toString(36)}`
let counter = 0

if (!skip) {
  runConformance({
    name: 'pubsub',
    capabilities: {
      leaseMs: 10_000, // Pub/Sub's shortest ack deadline
      delayMs: 1_000,
      nativeDelayLimitMs: 0, // no native delay at all: every delay goes through the delay relay
      approximateStats: true,
      reportsStats: false,
      eventTimeoutMs: 30_000,
    },
    setup: async () => {
      emulator = await startPubSubEmulator()
    },
    teardown: async () => {
      await deletePubSubResources(`${runId}-`)
      await emulator?.stop()
    },
    createQueue: async () =>
      new PubSubQueue(
        {
          autoCreate: true,
          topicPrefix: `${runId}-`,
          leaseMs: 10_000,
          relayHoldMs: 20_000,
          pullWaitMs: 500,
        },
        { logger: testLogger },
      ),
    queueName: (base) => `${base}-${++counter}`,
    throughProxy: {
      port: () => Number(emulator!.host.split(':').pop()),
      createQueue: async (endpoint, requestTimeoutMs) =>
        new PubSubQueue(
          {
            autoCreate: true,
            topicPrefix: `${runId}-`,
            leaseMs: 10_000,
            pullWaitMs: 500,
            requestTimeoutMs,
            apiEndpoint: endpoint.replace(/^https?:\/\//, ''),
          },
          { logger: testLogger },
        ),
    },
  })
}
