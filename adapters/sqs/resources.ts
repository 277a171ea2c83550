import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs'
import { ConveyorError, QueueUnavailableError } from '../../src/errors.ts'

export interface QueueUrls {
  url: string
  dlqUrl: string
}

export interface ResourceSettings {
  queuePrefix: string
  autoCreate: boolean
  maxReceiveCount: number
  leaseMs: number
  requestTimeoutMs: number
}

/** Maps logical queue names to SQS queue URLs (cached), creating queues and DLQs when allowed. */
export class SqsResources {
  readonly #client: SQSClient
  readonly #settings: ResourceSettings
  readonly #urls = new Map<string, Promise<QueueUrls>>()

  constructor(client: SQSClient, settings: ResourceSettings) {
    this.#client = client
    this.#settings = settings
  }

  #deadline(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(this.#settings.requestTimeoutMs) }
  }

  physicalName(queue: string): string {
    return `${this.#settings.queuePrefix}${queue}`
  }

  urls(queue: string): Promise<QueueUrls> {
    let found = this.#urls.get(queue)
    if (!found) {
      found = (this.#settings.autoCreate ? this.ensure(queue) : this.#lookup(queue)).catch((err: unknown) => {
        if (err instanceof ConveyorError) throw err
        throw new QueueUnavailableError(
          `cannot reach SQS for queue "${this.physicalName(queue)}": ${(err as Error).message}`,
          {
            cause: err,
          },
        )
      })
      this.#urls.set(queue, found)
      found.catch(() => this.#urls.delete(queue))
    }
    return found
  }

  /**
   * Creates `<name>-dlq` and `<name>` with a RedrivePolicy pointing at it, idempotently: existing queues
   * keep their data and get their attributes brought up to date.
   */
  async ensure(queue: string): Promise<QueueUrls> {
    const name = this.physicalName(queue)
    const dlqUrl = await this.#createOrUpdate(`${name}-dlq`, { MessageRetentionPeriod: '1209600' })
    const dlq = await this.#client.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
      this.#deadline(),
    )
    const url = await this.#createOrUpdate(name, {
      VisibilityTimeout: String(Math.ceil(this.#settings.leaseMs / 1000)),
      MessageRetentionPeriod: '1209600',
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: dlq.Attributes?.QueueArn,
        maxReceiveCount: this.#settings.maxReceiveCount,
      }),
    })
    return { url, dlqUrl }
  }

  async #createOrUpdate(name: string, attributes: Record<string, string>): Promise<string> {
    try {
      const out = await this.#client.send(
        new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
        this.#deadline(),
      )
      return out.QueueUrl!
    } catch (err) {
      // CreateQueue refuses an existing queue whose attributes differ: update them instead.
      // The JSON protocol names it `AWS.SimpleQueueService.QueueNameExists`; the query protocol `QueueAlreadyExists`.
      if (!/QueueNameExists|QueueAlreadyExists/.test((err as { name?: string }).name ?? '')) throw err
      const { QueueUrl } = await this.#client.send(
        new GetQueueUrlCommand({ QueueName: name }),
        this.#deadline(),
      )
      await this.#client.send(
        new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }),
        this.#deadline(),
      )
      return QueueUrl!
    }
  }

  async #lookup(queue: string): Promise<QueueUrls> {
    const name = this.physicalName(queue)
    try {
      const [main, dlq] = await Promise.all([
        this.#client.send(new GetQueueUrlCommand({ QueueName: name }), this.#deadline()),
        this.#client.send(new GetQueueUrlCommand({ QueueName: `${name}-dlq` }), this.#deadline()),
      ])
      return { url: main.QueueUrl!, dlqUrl: dlq.QueueUrl! }
    } catch (err) {
      if (err instanceof QueueDoesNotExist || (err as { name?: string }).name === 'QueueDoesNotExist') {
        throw new QueueUnavailableError(
          `SQS queue "${name}" or "${name}-dlq" does not exist: run \`npm run provision\` or set SQS_AUTO_CREATE=true`,
          { cause: err },
        )
      }
      throw new QueueUnavailableError(`cannot reach SQS to look up "${name}": ${(err as Error).message}`, {
        cause: err,
      })
    }
  }
}
