import { firestoreStore } from './multiprocess/stores.ts'
import { multiprocessSuite } from './multiprocess/suite.ts'
import { firestoreSkipReason } from './support/firestore-emulator.ts'
import { pubsubSkipReason, startPubSubEmulator } from './support/pubsub-emulator.ts'

// Two API processes and three workers on Pub/Sub with the Firestore job store, both Google's emulators.
// The Pub/Sub lease is at least 10 s, so the SIGKILL case waits that long for the killed worker's jobs.
multiprocessSuite({
  name: 'Pub/Sub + Firestore',
  // Like every Pub/Sub and Firestore test: skipped with a loud line without the emulators, unless CI requires them.
  skip: pubsubSkipReason() || firestoreSkipReason(),
  async start() {
    const emulator = await startPubSubEmulator()
    const store = await firestoreStore()
    return {
      env: {
        ...store.env,
        QUEUE_DRIVER: 'pubsub',
        PUBSUB_EMULATOR_HOST: emulator.host,
        GOOGLE_CLOUD_PROJECT: process.env.GOOGLE_CLOUD_PROJECT ?? 'conveyor-test',
        PUBSUB_AUTO_CREATE: 'true',
        PUBSUB_PULL_WAIT_MS: '1000',
        PUBSUB_TOPIC_PREFIX: `mp${Date.now().toString(36)}-`,
      },
      async stop() {
        await emulator.stop()
        await store.stop()
      },
    }
  },
})
