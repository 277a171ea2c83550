// POST /v1/jobs under autocannon (50 connections, 10 s) on the memory queue, against a bare Fastify
// route in the same run that validates the same body schema and replies 202. Each server runs in its
// own child process (one core for it, one for autocannon). Five rounds, alternating baseline and
// Conveyor, each server fresh with a 2 s warm-up. This VM's throughput drifts ±20% between runs, so
// `ratio` is the median of the five per-round ratios (each pair measured back to back); the req/s and
// p99 figures are medians across rounds.
// The Conveyor side does everything a real request does: JWT check, per-user rate limit (set high
// enough not to trigger), body validation, the job's payload schema, envelope, enqueue, metrics.
// No worker drains the queue (the bench measures the API); its capacity is raised to hold every job.
// Last line: { "bench": "api", "conveyorReqPerSec", "baselineReqPerSec", "ratio", "conveyorP99Ms", "baselineP99Ms" }
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { createSigner } from 'fast-jwt'
import Fastify from 'fastify'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { greetJob } from '../handlers/demo.ts'
import { Metrics } from '../src/metrics.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { buildApp } from '../src/service/http/app.ts'
import { EnqueueBody } from '../src/service/http/routes/jobs.ts'

const SECRET = 'bench-secret-bench-secret-bench-secret'
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = 50
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const body = JSON.stringify({ type: 'demo.greet', payload: { name: 'Ada Lovelace' } })

async function serve(kind: 'conveyor' | 'baseline'): Promise<void> {
  let app: Awaited<ReturnType<typeof buildApp>>
  if (kind === 'conveyor') {
    const queue = new MemoryQueue({ capacity: 50_000_000 })
    const registry = new JobRegistry([greetJob])
    const metrics = new Metrics()
    app = await buildApp({
      services: {
        queue,
        registry,
        metrics,
        producer: new Producer({ queue, registry, metrics }),
        readinessQueue: 'default',
      },
      jwtSecret: SECRET,
      rateLimitPerMinute: 1_000_000_000,
    })
  } else {
    app = Fastify({ ajv: { customOptions: { allErrors: true, removeAdditional: false } } }) as never
    app.post('/v1/jobs', { schema: { body: EnqueueBody } }, async (_request, reply) =>
      reply.code(202).send({ id: '01900000-0000-7000-8000-000000000000', type: 'demo.greet' }),
    )
  }
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  process.stdout.write(`${url}\n`)
  // Exit normally on a signal, so `node --cpu-prof bench/api.ts serve conveyor` writes its profile.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))
}

interface Measured {
  reqPerSec: number
  p99Ms: number
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function measure(kind: 'conveyor' | 'baseline'): Promise<Measured> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', kind], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer]
  const url = chunk.toString().trim()
  const token = createSigner({ key: SECRET, algorithm: 'HS256' })({ sub: 'bench-user' })
  const options = {
    url: `${url}/v1/jobs`,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
    connections: CONNECTIONS,
  }
  await autocannon({ ...options, duration: 2 }) // warm-up: JIT, connection setup
  const result = await autocannon({ ...options, duration: DURATION_S })
  child.kill('SIGINT')
  await once(child, 'exit')
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${kind}: ${result.non2xx} non-2xx responses, ${result.errors} errors`)
  }
  return { reqPerSec: result.requests.average, p99Ms: result.latency.p99 }
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3] as 'conveyor' | 'baseline')
} else {
  const rounds: { baseline: Measured; conveyor: Measured }[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const baselineRound = await measure('baseline')
    const conveyorRound = await measure('conveyor')
    rounds.push({ baseline: baselineRound, conveyor: conveyorRound })
    console.log(
      `round ${round}: baseline ${Math.round(baselineRound.reqPerSec)} req/s (p99 ${baselineRound.p99Ms} ms), ` +
        `conveyor ${Math.round(conveyorRound.reqPerSec)} req/s (p99 ${conveyorRound.p99Ms} ms)`,
    )
  }
  const baseline = {
    reqPerSec: median(rounds.map((r) => r.baseline.reqPerSec)),
    p99Ms: median(rounds.map((r) => r.baseline.p99Ms)),
  }
  const conveyor = {
    reqPerSec: median(rounds.map((r) => r.conveyor.reqPerSec)),
    p99Ms: median(rounds.map((r) => r.conveyor.p99Ms)),
  }
  console.log(
    JSON.stringify({
      bench: 'api',
      conveyorReqPerSec: Math.round(conveyor.reqPerSec),
      baselineReqPerSec: Math.round(baseline.reqPerSec),
      ratio: Math.round(median(rounds.map((r) => r.conveyor.reqPerSec / r.baseline.reqPerSec)) * 100) / 100,
      conveyorP99Ms: conveyor.p99Ms,
      baselineP99Ms: baseline.p99Ms,
    }),
  )
}
