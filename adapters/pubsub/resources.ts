import type { PubSub, Topic } from '@google-cloud/pubsub'
import { QueueUnavailableError } from '../../src/errors.ts'
import type { PubSubOptions } from './options.ts'

const ALREADY_EXISTS = 6

/** The names of one logical queue's topics and subscriptions. */
export interface QueueNames {
  topic: string
  subscription: string
  dlqTopic: string
  dlqSubscription: string
  delayTopic: string
  delaySubscription: string
}

/**
 * Maps logical queues to Pub/Sub resources: topic `<name>` with subscription `<name>-<group>` (dead-letter
 * policy to `<name>-dlq`), `<name>-dlq` with `<name>-dlq-sub` for tools, and `<name>-delay` with
 * `<name>-delay-sub`, which the delay relay drains.
 */
export class PubSubResources {
  readonly #client: PubSub
  readonly #options: PubSubOptions
  readonly #ready = new Map<string, Promise<QueueNames>>()
  readonly #topics = new Map<string, Topic>()

  constructor(client: PubSub, options: PubSubOptions) {
    this.#client = client
    this.#options = options
  }

  names(queue: string): QueueNames {
    const topic = `${this.#options.topicPrefix}${queue}`
    return {
      topic,
      subscription: `${topic}-${this.#options.group}`,
      dlqTopic: `${topic}-dlq`,
      dlqSubscription: `${topic}-dlq-sub`,
      delayTopic: `${topic}-delay`,
      delaySubscription: `${topic}-delay-sub`,
    }
  }

  /** A publisher for a topic, batching up to 100 messages or `batchFlushMs`. */
  topic(name: string): Topic {
    let topic = this.#topics.get(name)
    if (!topic) {
      topic = this.#client.topic(name, {
        batching: { maxMessages: 100, maxMilliseconds: this.#options.batchFlushMs },
        // The client retries a publish for up to 600 s by default: bound it (and each try) by our deadline.
        gaxOpts: { timeout: this.#options.requestTimeoutMs },
      })
      this.#topics.set(name, topic)
    }
    return topic
  }

  /** Resolves once the queue's resources exist (creating them when autoCreate is on). */
  ready(queue: string): Promise<QueueNames> {
    let ready = this.#ready.get(queue)
    if (!ready) {
      ready = this.#options.autoCreate ? this.ensure(queue) : this.#check(queue)
      this.#ready.set(queue, ready)
      ready.catch(() => this.#ready.delete(queue))
    }
    return ready
  }

  /** Forgets that the queue's resources exist (they vanished: a restarted emulator, a deleted topic). */
  forget(queue: string): void {
    this.#ready.delete(queue)
  }

  /** Creates every topic and subscription of the queue, idempotently. */
  async ensure(queue: string): Promise<QueueNames> {
    const n = this.names(queue)
    const { projectId: project } = await this.#client.getClientConfig()
    const path = (topic: string) => `projects/${project}/topics/${topic}`
    for (const topic of [n.topic, n.dlqTopic, n.delayTopic])
      await ignoreExists(this.#client.createTopic(topic))
    await ignoreExists(
      this.#client.topic(n.topic).createSubscription(n.subscription, {
        ackDeadlineSeconds: Math.ceil(this.#options.leaseMs / 1000),
        deadLetterPolicy: {
          deadLetterTopic: path(n.dlqTopic),
          maxDeliveryAttempts: this.#options.maxDeliveryAttempts,
        },
      }),
    )
    await ignoreExists(
      this.#client.topic(n.dlqTopic).createSubscription(n.dlqSubscription, { ackDeadlineSeconds: 60 }),
    )
    await ignoreExists(
      this.#client.topic(n.delayTopic).createSubscription(n.delaySubscription, {
        ackDeadlineSeconds: Math.ceil(this.#options.relayHoldMs / 1000),
      }),
    )
    return n
  }

  async #check(queue: string): Promise<QueueNames> {
    const n = this.names(queue)
    let exists: boolean
    try {
      ;[exists] = await this.#client.subscription(n.subscription).exists()
    } catch (err) {
      throw new QueueUnavailableError(
        `cannot reach Pub/Sub to look up "${n.subscription}": ${(err as Error).message}`,
        { cause: err },
      )
    }
    if (!exists) {
      throw new QueueUnavailableError(
        `Pub/Sub subscription "${n.subscription}" does not exist: run \`npm run provision\` or set PUBSUB_AUTO_CREATE=true`,
      )
    }
    return n
  }
}

async function ignoreExists(created: Promise<unknown>): Promise<void> {
  try {
    await created
  } catch (err) {
    if ((err as { code?: number }).code !== ALREADY_EXISTS) throw err
  }
}
