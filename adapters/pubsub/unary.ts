import { type PubSub, v1 } from '@google-cloud/pubsub'
import type { google } from '@google-cloud/pubsub/build/protos/protos.js'
import { countGrpcRequests } from '../../src/provider-requests.ts'

export type ReceivedMessage = google.pubsub.v1.IReceivedMessage
const INVALID_ARGUMENT = 3
export const DEADLINE_EXCEEDED = 4
const NOT_FOUND = 5
const FAILED_PRECONDITION = 9

/** The service refuses an ack id it does not know (a restarted emulator, a recreated subscription). */
export function refusesAckIds(err: unknown): boolean {
  const code = (err as { code?: number }).code
  return code === INVALID_ARGUMENT || code === NOT_FOUND || code === FAILED_PRECONDITION
}

/**
 * Pull, Acknowledge and ModifyAckDeadline: every call Conveyor makes on a subscription (consumers, the
 * delay relay, the dead-letter tools). Built (as the client's docs advise) from the PubSub
 * object's resolved config, emulator detection included. Every call but a waiting pull has the
 * queue's request deadline.
 */
export class UnaryCalls {
  readonly #client: PubSub
  readonly #timeoutMs: number
  #subscriberClient: Promise<v1.SubscriberClient> | undefined
  #project: Promise<string> | undefined

  constructor(client: PubSub, timeoutMs: number) {
    this.#client = client
    this.#timeoutMs = timeoutMs
  }

  /**
   * Pulls up to `maxMessages`. `waitMs` 0 answers at once; otherwise the server holds the call until a
   * message arrives or about `waitMs` has passed (the call's deadline is a second later, and Google's
   * server, emulator included, answers an empty pull just before its deadline). A pull is never
   * cancelled by Conveyor: the server may already have handed a cancelled pull's messages out, and they
   * would stay hidden for a whole ack deadline. Not retried by the client either, so an unreachable
   * service is an error at once (UNAVAILABLE), not an empty answer after the deadline.
   */
  async pull(subscription: string, maxMessages: number, waitMs: number): Promise<ReceivedMessage[]> {
    const client = await this.#subscriber()
    const path = await this.#path('subscriptions', subscription)
    const [response] = await client.pull(
      { subscription: path, maxMessages, returnImmediately: waitMs === 0 },
      {
        timeout: waitMs === 0 ? this.#timeoutMs : waitMs + 1_000,
        retry: null,
        otherArgs: { headers: { 'x-goog-request-params': `subscription=${encodeURIComponent(path)}` } },
      },
    )
    return response.receivedMessages ?? []
  }

  async acknowledge(subscription: string, ackIds: string[]): Promise<void> {
    if (ackIds.length === 0) return
    await (await this.#subscriber()).acknowledge(
      { subscription: await this.#path('subscriptions', subscription), ackIds },
      { timeout: this.#timeoutMs },
    )
  }

  /** 0 s: available again at once. */
  async modifyAckDeadline(subscription: string, ackIds: string[], seconds: number): Promise<void> {
    if (ackIds.length === 0) return
    await (await this.#subscriber()).modifyAckDeadline(
      { subscription: await this.#path('subscriptions', subscription), ackIds, ackDeadlineSeconds: seconds },
      { timeout: this.#timeoutMs },
    )
  }

  /** Closes the client (after every loop that pulls has stopped). */
  async close(): Promise<void> {
    if (this.#subscriberClient) await (await this.#subscriberClient).close()
  }

  #subscriber(): Promise<v1.SubscriberClient> {
    this.#subscriberClient ??= this.#client.getClientConfig().then(
      (config) =>
        new v1.SubscriberClient({
          ...config,
          ...countGrpcRequests('pubsub'),
        } as ConstructorParameters<typeof v1.SubscriberClient>[0]),
    )
    return this.#subscriberClient
  }

  async #path(kind: 'subscriptions' | 'topics', name: string): Promise<string> {
    this.#project ??= this.#client.getClientConfig().then((c) => c.projectId!)
    return `projects/${await this.#project}/${kind}/${name}`
  }
}
