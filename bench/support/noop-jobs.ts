import type { Logger } from 'pino'
import Type from 'typebox'
import { defineJob } from '../../src/job.ts'
import type { JobLedger } from '../../src/ledger/ledger.ts'
import { Producer } from '../../src/producer.ts'
import type { Queue } from '../../src/queue.ts'
import { Worker } from '../../src/worker.ts'

/** The payload every remote-adapter bench sends. */
export const BENCH_PAYLOAD = {
  userId: 'user-0000001234',
  email: 'someone@example.com',
  template: 'weekly-summary',
}

export interface NoopRun {
  messages: number
  concurrency: number
  logger: Logger
  /** Payloads per enqueueMany call, and how many such calls run at once. */
  batch: number
  parallel: number
  /** Record every job in this ledger (producer and worker). Default: no ledger. */
  ledger?: JobLedger
}

/**
 * Starts a worker on queue `bench` with a no-op job, enqueues `messages` jobs through the Producer, and
 * resolves to the seconds from start until the last one was handled. The worker is stopped; the queue
 * is left open for the caller (to count requests, then close it).
 */
export async function timeNoopJobs(queue: Queue, run: NoopRun): Promise<number> {
  let done = 0
  let finished!: () => void
  const allDone = new Promise<void>((r) => {
    finished = r
  })
  const job = defineJob({
    type: 'bench.noop',
    queue: 'bench',
    schema: Type.Object({ userId: Type.String(), email: Type.String(), template: Type.String() }),
    handle: () => {
      if (++done === run.messages) finished()
    },
  })
  const ledger = run.ledger ? { ledger: run.ledger } : {}
  const worker = new Worker({
    queue,
    jobs: [job],
    concurrency: run.concurrency,
    logger: run.logger,
    ...ledger,
  })
  const producer = new Producer({ queue, ...ledger })
  const started = performance.now()
  worker.start()
  const chunk = Array.from({ length: run.batch }, () => BENCH_PAYLOAD)
  for (let sent = 0; sent < run.messages; sent += run.batch * run.parallel) {
    await Promise.all(Array.from({ length: run.parallel }, () => producer.enqueueMany(job, chunk)))
  }
  await allDone
  const seconds = (performance.now() - started) / 1000
  await worker.stop()
  return seconds
}
