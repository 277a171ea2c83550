import { dynamoStore } from './multiprocess/stores.ts'
import { multiprocessSuite } from './multiprocess/suite.ts'
import { pubsubSkipReason, startPubSubEmulator } from './support/pubsub-emulator.ts'

// Two API processes and three workers on Pub/Sub (Google's emulator). The job store is DynamoDB
// (dynalite) until the Firestore store lands; the Pub/Sub lease is at least 10 s, so the SIGKILL case
// waits that long for the killed worker's jobs.
multiprocessSuite({
  name: 'Pub/Sub + DynamoDB',
  // Like every Pub/Sub test: skipped with a loud line without the emulator, unless CI requires it.
  skip: pubsubSkipReason(),
  async start() {
    const emulator = await startPubSubEmulator()
    const store = await dynamoStore()
    return {
      env: {
        ...store.env,
        QUEUE_DRIVER: 'pubsub',
        PUBSUB_EMULATOR_HOST: emulator.host,
        GOOGLE_CLOUD_PROJECT: process.env.GOOGLE_CLOUD_PROJECT ?? 'conveyor-test',
        METADATA_SERVER_DETECTION: 'none',
        PUBSUB_AUTO_CREATE: 'true',
        PUBSUB_TOPIC_PREFIX: `mp${Date.now().toString(36)}-`,
      },
      async stop() {
        await emulator.stop()
        await store.stop()
      },
    }
  },
})
