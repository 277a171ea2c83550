/** Someone who gets the weekly summary. */
export interface SummaryUser {
  /** The owner id their activities are kept under (the token's `sub`). */
  id: string
  email: string
  name: string
}

/**
 * Where the weekly summary finds its users: your user table, an API… Yields users in batches (about
 * `batchSize` each) so a million users never sit in memory at once; stop when `signal` aborts.
 */
export interface UserSource {
  batches(options: { batchSize: number; signal: AbortSignal }): AsyncIterable<readonly SummaryUser[]>
}

/** A source over a fixed list (tests, small deployments). */
export function listUserSource(users: readonly SummaryUser[]): UserSource {
  return {
    async *batches({ batchSize, signal }) {
      for (let i = 0; i < users.length; i += batchSize) {
        signal.throwIfAborted()
        yield users.slice(i, i + batchSize)
      }
    },
  }
}

/** The demo users `npm start` knows (the demo token's user among them). */
export const demoUserSource: UserSource = listUserSource([
  { id: 'demo', email: 'demo@example.com', name: 'Demo' },
  { id: 'ada', email: 'ada@example.com', name: 'Ada' },
  { id: 'grace', email: 'grace@example.com', name: 'Grace' },
  { id: 'linus', email: 'linus@example.com', name: 'Linus' },
])
