import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { MemoryJobStore } from '../adapters/memory/job-store.ts'
import { defineJob } from '../src/job.ts'
import { JobLedger } from '../src/ledger/ledger.ts'
import { createLogger } from '../src/logger.ts'
import { Producer } from '../src/producer.ts'
import { Worker } from '../src/worker.ts'
const JOBS = 100_000
const logger = createLogger({ level: 'warn' })
const payload = { userId: 'user-0000001234', email: 'someone.with.a.long.name@example.com', template: 'weekly-summary', locale: 'en-GB', vars: { week: 47, distanceKm: 42.195, activities: 7, streak: 12 }, tags: ['digest', 'weekly'] }
const mode = process.argv[2]
const R = Promise.resolve(true)
const T = Promise.resolve({ applied: true })
const fake = { driver: 'fake', create: () => R, transition: () => T, get: () => Promise.resolve(undefined), progress: () => R } as never
const store = mode === 'real' ? new MemoryJobStore() : mode === 'fake' ? fake : undefined
const ledger = store ? new JobLedger({ store, logger }) : undefined
const queue = new MemoryQueue({ capacity: JOBS + 1 })
let done = 0
let finished!: () => void
const allDone = new Promise<void>((r) => { finished = r })
const noop = defineJob({ type: 'bench.noop', schema: Type.Object({}, { additionalProperties: true }), handle: async () => { if (++done === JOBS) finished() } })
const options = ledger ? { ledger } : {}
const worker = new Worker({ queue, jobs: [noop], concurrency: 64, logger, ...options })
const producer = new Producer({ queue, ...options })
const started = performance.now()
worker.start()
const batch = Array.from({ length: 1000 }, () => payload)
for (let sent = 0; sent < JOBS; sent += batch.length) await producer.enqueueMany(noop, batch)
await allDone
console.log(mode, Math.round(JOBS / ((performance.now() - started) / 1000)))
await worker.stop(); ledger?.close()
