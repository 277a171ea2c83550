// What the job ledger costs. Two comparisons, each side measured in the same run:
// 1. memory: 100,000 no-op jobs (~200-byte payload) through the memory adapter and the worker
//    (concurrency 64, enqueueMany by 1,000) with the memory job store recording every job (create,
//    running, succeeded), against the same with no store. Five rounds, alternating, each side in a fresh
//    child process; memoryRatio is the median of the per-round ratios (on / off).
// 2. aws: 10,000 no-op jobs on SQS (fauxqs) with the DynamoDB job store (dynalite), against SQS alone.
//    fauxqs and dynalite run in processes of their own; three rounds, alternating; awsRatio is the
//    median per-round ratio. (BENCH_AWS=0 skips it and prints null.)
// Each memory round also runs a third side, "wiring": the ledger on a store that answers at once (and
// synchronously, as the memory store does) and keeps nothing, to show what the wiring costs apart from the memory store's own bookkeeping (printed
// per round and as the median; not part of the JSON).
// storeWritesPerJob / storeReadsPerJob: requests the store received per job, from the memory rounds
// (the DynamoDB ones are printed too: a refused write that reads back would show there).
// Last line: { "bench": "ledger", "memoryRatio", "awsRatio", "storeWritesPerJob", "storeReadsPerJob" }
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import Type from 'typebox'
import { DynamoJobStore, ensureJobTable } from '../adapters/dynamodb/index.ts'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { MemoryJobStore } from '../adapters/memory/job-store.ts'
import { SqsQueue } from '../adapters/sqs/index.ts'
import { defineJob } from '../src/job.ts'
import { JobLedger } from '../src/ledger/ledger.ts'
import { createLogger } from '../src/logger.ts'
import { Producer } from '../src/producer.ts'
import type { JobStore, SyncRecordWrites } from '../src/store/job-store.ts'
import type { RequestCounts } from '../src/store/records.ts'
import { Worker } from '../src/worker.ts'
import { timeNoopJobs } from './support/noop-jobs.ts'

const JOBS = Number(process.env.BENCH_JOBS ?? 100_000)
const AWS_JOBS = Number(process.env.BENCH_AWS_JOBS ?? 10_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const AWS_ROUNDS = Number(process.env.BENCH_AWS_ROUNDS ?? 3)
const CONCURRENCY = 64
const logger = createLogger({ level: 'warn' })
Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
})

const payload = {
  userId: 'user-0000001234',
  email: 'someone.with.a.long.name@example.com',
  template: 'weekly-summary',
  locale: 'en-GB',
  vars: { week: 47, distanceKm: 42.195, activities: 7, streak: 12 },
  tags: ['digest', 'weekly'],
}

interface SideResult {
  rate: number
  writes: number
  reads: number
}

/**
 * A store that answers every write at once and keeps nothing: the wiring's cost alone. Its writes are
 * synchronous (SyncRecordWrites) like the memory store's, so the ledger takes the same path for both.
 */
function answeringStore(): JobStore {
  const created = Promise.resolve(true)
  const applied = Promise.resolve({ applied: true })
  const nothing = Promise.resolve(undefined)
  return {
    driver: 'answering',
    syncRecordWrites: true,
    createSync: () => true,
    transitionSync: () => ({ applied: true }),
    create: () => created,
    transition: () => applied,
    get: () => nothing,
    progress: () => created,
  } as Partial<JobStore & SyncRecordWrites> as JobStore
}

/** One memory side, in this (fresh) process. */
async function memorySide(kind: 'on' | 'off' | 'wiring'): Promise<SideResult> {
  const queue = new MemoryQueue({ capacity: JOBS + 1 })
  const memoryStore = kind === 'on' ? new MemoryJobStore() : undefined
  const store = kind === 'wiring' ? answeringStore() : memoryStore
  const ledger = store ? new JobLedger({ store, logger }) : undefined
  let done = 0
  let finished!: () => void
  const allDone = new Promise<void>((r) => {
    finished = r
  })
  const noop = defineJob({
    type: 'bench.noop',
    schema: Type.Object({}, { additionalProperties: true }),
    handle: async () => {
      if (++done === JOBS) finished()
    },
  })
  const options = ledger ? { ledger } : {}
  const worker = new Worker({ queue, jobs: [noop], concurrency: CONCURRENCY, logger, ...options })
  const producer = new Producer({ queue, metrics: worker.metrics, ...options })
  const started = performance.now()
  worker.start()
  const batch = Array.from({ length: 1000 }, () => payload)
  for (let sent = 0; sent < JOBS; sent += batch.length) await producer.enqueueMany(noop, batch)
  await allDone
  const seconds = (performance.now() - started) / 1000
  await worker.stop()
  await queue.close()
  ledger?.close()
  // The last success writes are under way as the last handler returns; let them land before counting.
  await new Promise((r) => setImmediate(r))
  return {
    rate: JOBS / seconds,
    writes: memoryStore?.requests.writes ?? 0,
    reads: memoryStore?.requests.reads ?? 0,
  }
}

async function startChild(script: string): Promise<{ child: ChildProcess; endpoint: string }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', resolve),
  )
  return { child, endpoint: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` }
}

/** One SQS side: 10,000 jobs on a fresh queue, with or without the DynamoDB store. */
async function awsSide(
  sqsEndpoint: string,
  store: DynamoJobStore | undefined,
  round: number,
): Promise<number> {
  const queue = new SqsQueue(
    { endpoint: sqsEndpoint, autoCreate: true, queuePrefix: `ledger-${round}-${store ? 'on' : 'off'}-` },
    { logger },
  )
  await queue.ensureQueue('bench')
  const ledger = store ? new JobLedger({ store, logger, timeoutMs: 3000 }) : undefined
  const seconds = await timeNoopJobs(queue, {
    messages: AWS_JOBS,
    concurrency: CONCURRENCY,
    logger,
    batch: 100,
    // dynalite is one process on LevelDB: 800 concurrent creates time out there (real DynamoDB takes them).
    parallel: 2,
    ...(ledger ? { ledger } : {}),
  })
  ledger?.close()
  await queue.close()
  return AWS_JOBS / seconds
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const side = process.argv[2]
if (side === 'on' || side === 'off' || side === 'wiring') {
  console.log(JSON.stringify(await memorySide(side)))
} else {
  const run = (which: string) => {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), which], { encoding: 'utf8' })
    return JSON.parse(out.trim().split('\n').at(-1)!) as SideResult
  }
  const ratios: number[] = []
  const wiringRatios: number[] = []
  let writes = 0
  let reads = 0
  let jobs = 0
  for (let round = 0; round < ROUNDS; round++) {
    const off = run('off')
    const on = run('on')
    const wiring = run('wiring')
    ratios.push(on.rate / off.rate)
    wiringRatios.push(wiring.rate / off.rate)
    writes += on.writes
    reads += on.reads
    jobs += JOBS
    console.log(
      `memory round ${round + 1}: store on ${Math.round(on.rate)} jobs/s, off ${Math.round(off.rate)} jobs/s, ratio ${(on.rate / off.rate).toFixed(3)}; wiring only ${Math.round(wiring.rate)} jobs/s, ratio ${(wiring.rate / off.rate).toFixed(3)}`,
    )
  }
  const memoryRatio = Number(median(ratios).toFixed(3))
  console.log(
    `memory: median ratio ${memoryRatio}; wiring only (a store that keeps nothing) ${median(wiringRatios).toFixed(3)}`,
  )

  let awsRatio: number | null = null
  if (process.env.BENCH_AWS !== '0') {
    const sqs = await startChild('./support/fauxqs-process.ts')
    const dynamo = await startChild('./support/dynalite-process.ts')
    try {
      const client = new DynamoDBClient({ endpoint: dynamo.endpoint })
      await ensureJobTable(client, 'conveyor-jobs-bench')
      const awsRatios: number[] = []
      for (let round = 0; round < AWS_ROUNDS; round++) {
        const off = await awsSide(sqs.endpoint, undefined, round)
        const store = new DynamoJobStore(
          { table: 'conveyor-jobs-bench', endpoint: dynamo.endpoint },
          { client },
        )
        const on = await awsSide(sqs.endpoint, store, round)
        const counts = store.requests as RequestCounts
        await store.close()
        awsRatios.push(on / off)
        console.log(
          `aws round ${round + 1}: SQS + DynamoDB store ${Math.round(on)} jobs/s, SQS alone ${Math.round(off)} jobs/s, ratio ${(on / off).toFixed(3)}; DynamoDB ${(counts.writes / AWS_JOBS).toFixed(2)} writes, ${(counts.reads / AWS_JOBS).toFixed(2)} reads per job (${[...counts.byOperation].map(([op, n]) => `${op} ${n}`).join(', ')})`,
        )
      }
      client.destroy()
      awsRatio = Number(median(awsRatios).toFixed(3))
    } finally {
      sqs.child.kill('SIGTERM')
      dynamo.child.kill('SIGTERM')
    }
  }
  console.log(
    JSON.stringify({
      bench: 'ledger',
      memoryRatio,
      awsRatio,
      storeWritesPerJob: Number((writes / jobs).toFixed(3)),
      storeReadsPerJob: Number((reads / jobs).toFixed(3)),
    }),
  )
}
