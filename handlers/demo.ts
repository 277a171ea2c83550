import Type from 'typebox'
import { defineJob } from '../src/job.ts'

/**
 * A job to watch the system work: it "renders" a greeting, takes `workMs` (honouring its AbortSignal),
 * and fails its first attempt when `flaky` is set, so the retry path shows in the logs.
 */
export const greetJob = defineJob({
  type: 'demo.greet',
  queue: 'default',
  schema: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 100 }),
    workMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })),
    flaky: Type.Optional(Type.Boolean()),
  }),
  timeoutMs: 10_000,
  maxAttempts: 3,
  backoff: { baseMs: 500, maxMs: 5_000 },
  publishable: true,
  async handle({ name, workMs = 50, flaky }, { signal, attempt, log }) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, workMs)
      signal.addEventListener('abort', () => {
        clearTimeout(timer)
        reject(signal.reason)
      })
    })
    if (flaky && attempt === 1) throw new Error('flaky demo job failed its first attempt on purpose')
    log.info({ greeting: `Hello, ${name}!` }, 'greeted')
  },
})
