import { type PubSub, v1 } from '@google-cloud/pubsub'
import type { google } from '@google-cloud/pubsub/build/protos/protos.js'
import { countGrpcRequests } from '../../src/provider-requests.ts'

export type ReceivedMessage = google.pubsub.v1.IReceivedMessage
type CancellableCall = Promise<[google.pubsub.v1.IPullResponse]> & { cancel(): void }

/**
 * Unary Pull, Acknowledge and ModifyAckDeadline, for the relay, the dead-letter tools and deliveries
 * settled or kept leased after their stream closed. Built (as the client's docs advise) from the PubSub
 * object's resolved config, emulator detection included. Every call but a blocking pull has the
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

  /** Pulls; with `signal`, aborting it cancels the call (a stopping relay does not wait it out). */
  async pull(
    subscription: string,
    maxMessages: number,
    returnImmediately: boolean,
    signal?: AbortSignal,
  ): Promise<ReceivedMessage[]> {
    const client = await this.#subscriber()
    const path = await this.#path('subscriptions', subscription)
    const request = { subscription: path, maxMessages, returnImmediately }
    const options = {
      timeout: returnImmediately ? 10_000 : 30_000,
      otherArgs: { headers: { 'x-goog-request-params': `subscription=${encodeURIComponent(path)}` } },
    }
    if (!signal) {
      const [response] = await client.pull(request, options)
      return response.receivedMessages ?? []
    }
    // The generated pull() returns a plain promise; the gax call beneath it can be cancelled, so a
    // stopping relay does not wait out a blocking pull.
    await client.initialize()
    const inner = (
      client as unknown as { innerApiCalls: Record<string, (req: unknown, opts: unknown) => CancellableCall> }
    ).innerApiCalls
    const call = inner.pull!(request, options)
    const cancel = () => call.cancel()
    signal.addEventListener('abort', cancel, { once: true })
    try {
      const [response] = await call
      return response.receivedMessages ?? []
    } finally {
      signal.removeEventListener('abort', cancel)
    }
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

  /** Ends the calls under way (a relay's blocking pull). */
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
