import { dynamoStore } from './multiprocess/stores.ts'
import { multiprocessSuite } from './multiprocess/suite.ts'
import { startFauxqs } from './support/emulators.ts'

// Two API processes and three workers on SQS (fauxqs) with the DynamoDB job store (dynalite).
multiprocessSuite({
  name: 'SQS + DynamoDB',
  async start() {
    const fauxqs = await startFauxqs()
    const store = await dynamoStore()
    return {
      env: {
        ...store.env,
        QUEUE_DRIVER: 'sqs',
        AWS_ENDPOINT_URL_SQS: fauxqs.endpoint,
        SQS_AUTO_CREATE: 'true',
        SQS_QUEUE_PREFIX: `mp${Date.now().toString(36)}-`,
        SQS_WAIT_TIME_SECONDS: '1',
      },
      async stop() {
        await fauxqs.stop()
        await store.stop()
      },
    }
  },
})
