/**
 * Counts every request Conveyor makes to a provider (SQS, S3, SES, DynamoDB, Pub/Sub, Firestore, Cloud
 * Storage, the job store), so an operator can read requests per job (and so cost per million jobs) from
 * `conveyor_provider_requests_total{provider, operation}` (src/metrics.ts reads these tallies on every
 * scrape). The tallies are per process: a request is made by the process, not by one Worker or Metrics.
 *
 * Hooks, one per kind of client:
 * - AWS SDK v3 clients: `countAwsRequests(client, provider)` adds a middleware that counts each HTTP
 *   attempt (retries included) under the command's name (`SendMessageBatch`, `PutItem`, …).
 * - gRPC clients built by google-gax (Pub/Sub, Firestore): spread `countGrpcRequests(provider)` into the
 *   client's constructor options; every call (unary, or the start of a stream) counts under its method.
 * - anything else: `countProviderRequest(provider, operation)` at the call site.
 */

interface Tally {
  readonly provider: string
  readonly operation: string
  count: number
}

const tallies = new Map<string, Tally>()

/** Counts `n` requests of `operation` to `provider`. */
export function countProviderRequest(provider: string, operation: string, n = 1): void {
  const key = `${provider}\u0000${operation}`
  const tally = tallies.get(key)
  if (tally) tally.count += n
  else tallies.set(key, { provider, operation, count: n })
}

/** Every tally so far (cumulative, this process). */
export function providerRequestCounts(): readonly Readonly<Tally>[] {
  return [...tallies.values()]
}

/** The total so far, optionally for one provider (benchmarks divide it by the jobs they ran). */
export function totalProviderRequests(provider?: string): number {
  let total = 0
  for (const t of tallies.values()) if (!provider || t.provider === provider) total += t.count
  return total
}

const MIDDLEWARE_NAME = 'conveyorProviderRequests'

/** The part of an AWS SDK v3 client the hook needs. */
export interface AwsClientLike {
  middlewareStack: {
    add(middleware: unknown, options: { step: 'deserialize'; name: string; priority?: 'low' }): void
    identify(): string[]
  }
}

/**
 * Counts every HTTP request `client` makes, under `provider` and the command's name. Sits in the
 * deserialize step, inside the SDK's retry loop, so each retry counts. Idempotent per client.
 */
export function countAwsRequests<C extends AwsClientLike>(client: C, provider: string): C {
  const stack = client.middlewareStack
  if (stack.identify().some((entry) => entry.startsWith(MIDDLEWARE_NAME))) return client
  stack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => {
      countProviderRequest(provider, (context.commandName ?? 'unknown').replace(/Command$/, ''))
      return next(args)
    },
    { step: 'deserialize', name: MIDDLEWARE_NAME, priority: 'low' },
  )
  return client
}

/**
 * Constructor options for a google-gax client (`new PubSub({ ...countGrpcRequests('pubsub') })`): gRPC's
 * call-invocation transformer sees every call the client starts, `/google.pubsub.v1.Publisher/Publish`
 * counting as `Publish`.
 */
export function countGrpcRequests(provider: string): Record<string, unknown> {
  return {
    'grpc.callInvocationTransformer': (call: { methodDefinition?: { path?: string } }) => {
      const path = call.methodDefinition?.path ?? 'unknown'
      countProviderRequest(provider, path.slice(path.lastIndexOf('/') + 1))
      return call
    },
  }
}
