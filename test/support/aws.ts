import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { DeleteQueueCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs'
import { SqsQueue } from '../../adapters/sqs/index.ts'
import type { SqsOptions } from '../../adapters/sqs/options.ts'
import { S3ObjectStore } from '../../src/storage/s3-store.ts'
import { testLogger } from './async.ts'
import { type RunningEmulator, startFauxqs, useLocalAwsEnvironment } from './emulators.ts'

/**
 * Where the SQS tests run: a fauxqs started here on a free loopback port, or, when
 * AWS_ENDPOINT_URL_SQS is set (or CONVEYOR_TEST_AWS=1 with real credentials), that endpoint: then no
 * emulator is started, queue names are unique to this run, and every queue made is deleted at the end.
 */
export class AwsTestBackend {
  readonly runId = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
  emulator: RunningEmulator | undefined
  endpoint: string | undefined
  sqs!: SQSClient
  s3!: S3Client
  bucket = `conveyor-test-${this.runId}`.toLowerCase()
  #counter = 0

  get external(): boolean {
    return Boolean(process.env.AWS_ENDPOINT_URL_SQS || process.env.CONVEYOR_TEST_AWS === '1')
  }

  async start(): Promise<void> {
    if (this.external) {
      this.endpoint = process.env.AWS_ENDPOINT_URL_SQS
      process.env.AWS_EC2_METADATA_DISABLED = 'true'
    } else {
      this.emulator = await startFauxqs()
      this.endpoint = this.emulator.endpoint
    }
    useLocalAwsEnvironment()
    const s3Endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? this.emulator?.endpoint
    this.sqs = new SQSClient(this.endpoint ? { endpoint: this.endpoint } : {})
    this.s3 = new S3Client({
      ...(s3Endpoint ? { endpoint: s3Endpoint } : {}),
      forcePathStyle: Boolean(s3Endpoint),
    })
    await this.s3.send(new CreateBucketCommand({ Bucket: this.bucket }))
  }

  /** A queue name unique to this run. */
  name(base: string): string {
    return `${base}-${++this.#counter}`
  }

  claimStore(): S3ObjectStore {
    return new S3ObjectStore({ bucket: this.bucket, client: this.s3 })
  }

  createQueue(options: Partial<SqsOptions> = {}): SqsQueue {
    return new SqsQueue(
      // A 2 s long poll: closing a queue waits for the poll under way (see SqsConsumer.close).
      {
        endpoint: this.endpoint,
        autoCreate: true,
        queuePrefix: `${this.runId}-`,
        waitTimeSeconds: 2,
        ...options,
      },
      { claimStore: this.claimStore(), logger: testLogger },
    )
  }

  async stop(): Promise<void> {
    if (this.external) {
      const { QueueUrls = [] } = await this.sqs.send(
        new ListQueuesCommand({ QueueNamePrefix: `${this.runId}-` }),
      )
      for (const QueueUrl of QueueUrls) await this.sqs.send(new DeleteQueueCommand({ QueueUrl }))
    }
    this.sqs?.destroy()
    this.s3?.destroy()
    await this.emulator?.stop()
  }
}
