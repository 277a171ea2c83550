// 200,000 no-op jobs (~200-byte JSON payload) through the memory adapter and the worker at concurrency 64,
// against a bare baseline in the same process: an in-process FIFO and 64 async consumers doing the same
// JSON work (stringify on send, parse on receive). Medians of 5 rounds, alternating, each side in a
// fresh process; peakRssMb is the Conveyor process's.
// Last line: { "bench": "memory", "conveyorJobsPerSec", "baselineJobsPerSec", "ratio", "peakRssMb" }
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { Deque } from '../src/deque.ts'
import { defineJob } from '../src/job.ts'
import { createLogger } from '../src/logger.ts'
import { Producer } from '../src/producer.ts'
import { Worker } from '../src/worker.ts'

const JOBS = Number(process.env.BENCH_JOBS ?? 200_000)
const CONCURRENCY = 64
const ROUNDS = 5
const payload = {
  userId: 'user-0000001234',
  email: 'someone.with.a.long.name@example.com',
  template: 'weekly-summary',
  locale: 'en-GB',
  vars: { week: 47, distanceKm: 42.195, activities: 7, streak: 12 },
  tags: ['digest', 'weekly'],
}

const Payload = Type.Object({
  userId: Type.String(),
  email: Type.String(),
  template: Type.String(),
  locale: Type.String(),
  vars: Type.Object({
    week: Type.Integer(),
    distanceKm: Type.Number(),
    activities: Type.Integer(),
    streak: Type.Integer(),
  }),
  tags: Type.Array(Type.String()),
})

async function conveyor(): Promise<number> {
  const queue = new MemoryQueue({ capacity: JOBS + 1 })
  let done = 0
  let finished!: () => void
  const allDone = new Promise<void>((r) => {
    finished = r
  })
  const noop = defineJob({
    type: 'bench.noop',
    schema: Payload,
    handle: async () => {
      if (++done === JOBS) finished()
    },
  })
  const worker = new Worker({
    queue,
    jobs: [noop],
    concurrency: CONCURRENCY,
    logger: createLogger({ level: 'warn' }),
  })
  const producer = new Producer({ queue, metrics: worker.metrics })
  const started = performance.now()
  worker.start()
  const batch = Array.from({ length: 1000 }, () => payload)
  for (let sent = 0; sent < JOBS; sent += batch.length) await producer.enqueueMany(noop, batch)
  await allDone
  const seconds = (performance.now() - started) / 1000
  await worker.stop()
  await queue.close()
  return JOBS / seconds
}

async function baseline(): Promise<number> {
  const fifo = new Deque<string>()
  const waiting: (() => void)[] = []
  let done = 0
  let finished!: () => void
  const allDone = new Promise<void>((r) => {
    finished = r
  })
  const handler = async (_p: unknown) => {}
  async function consumer(): Promise<void> {
    while (done < JOBS) {
      const body = fifo.shift()
      if (body === undefined) {
        await new Promise<void>((r) => waiting.push(r))
        continue
      }
      await handler(JSON.parse(body))
      if (++done === JOBS) finished()
    }
  }
  const started = performance.now()
  const consumers = Array.from({ length: CONCURRENCY }, consumer)
  for (let sent = 0; sent < JOBS; sent++) {
    // The same JSON work as Conveyor's: an envelope of the same shape and size (36-character id).
    fifo.push(
      JSON.stringify({
        v: 1,
        id: BASELINE_ID,
        type: 'bench.noop',
        payload,
        attempt: 1,
        maxAttempts: 5,
        enqueuedAt: Date.now(),
      }),
    )
    waiting.shift()?.()
    if (sent % 1000 === 999) await Promise.resolve()
  }
  await allDone
  for (const wake of waiting.splice(0)) wake()
  await Promise.all(consumers)
  return JOBS / ((performance.now() - started) / 1000)
}

const BASELINE_ID = '01a204e3-cfec-746e-a619-2df34efd5f21'

// Each round runs each side in a fresh child process, so neither inherits the other's heap or JIT state.
const side = process.argv[2]
if (side === 'conveyor' || side === 'baseline') {
  const rate = side === 'conveyor' ? await conveyor() : await baseline()
  console.log(JSON.stringify({ rate, maxRssMb: process.resourceUsage().maxRSS / 1024 }))
} else {
  const run = (which: string) => {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), which], { encoding: 'utf8' })
    return JSON.parse(out.trim().split('\n').at(-1)!) as { rate: number; maxRssMb: number }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const c: number[] = []
  const b: number[] = []
  let peakRssMb = 0
  for (let round = 0; round < ROUNDS; round++) {
    const base = run('baseline')
    const conv = run('conveyor')
    b.push(base.rate)
    c.push(conv.rate)
    peakRssMb = Math.max(peakRssMb, conv.maxRssMb)
    console.log(
      `round ${round + 1}: conveyor ${Math.round(conv.rate)} jobs/s, baseline ${Math.round(base.rate)} jobs/s`,
    )
  }
  const conveyorJobsPerSec = Math.round(median(c))
  const baselineJobsPerSec = Math.round(median(b))
  console.log(
    JSON.stringify({
      bench: 'memory',
      conveyorJobsPerSec,
      baselineJobsPerSec,
      ratio: Number((conveyorJobsPerSec / baselineJobsPerSec).toFixed(3)),
      peakRssMb: Math.round(peakRssMb),
    }),
  )
}
