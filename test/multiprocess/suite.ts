import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { createSigner } from 'fast-jwt'
import { eventually } from '../support/async.ts'
import { NodeProcess, type ProcessEvent, whenAll } from './cluster.ts'

/** A queue and a job store for the deployment: started by the test, handed to every process as settings. */
export interface Stack {
  /** e.g. `SQS + DynamoDB`. */
  name: string
  /** Starts the emulators; resolves to the settings every process gets and how to stop them. */
  start(): Promise<{ env: Record<string, string>; stop(): Promise<void> }>
  /** Why the stack cannot run here (an emulator is missing and CI did not require it), or false. */
  skip?: string | false
}

const SECRET = 'multiprocess-secret-long-enough-for-hs256'
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 600_000 })
const token = (sub: string) => `Bearer ${sign({ sub, email: `${sub}@example.com` })}`

/**
 * One deployment of real `node` processes: two API processes and three workers on one queue with one
 * job store, each process started here and reading its settings from the environment as `npm start`
 * does. Leases are short so a killed worker's jobs come back fast.
 */
export function multiprocessSuite(stack: Stack): void {
  let stopStack: (() => Promise<void>) | undefined
  let dir: string
  const apis: NodeProcess[] = []
  const workers: NodeProcess[] = []
  const all = () => [...apis, ...workers]
  const urls: string[] = []

  const skip = stack.skip ?? false
  before(async () => {
    if (skip) return
    const started = await stack.start()
    stopStack = started.stop
    dir = await mkdtemp(join(tmpdir(), 'conveyor-multiprocess-'))
    const env = {
      ...started.env,
      STORAGE_DRIVER: 'fs',
      STORAGE_DIR: dir,
      AUTH_JWT_SECRET: SECRET,
      WORKER_LEASE_MS: '2000',
      WORKER_CONCURRENCY: '2',
      EXPORT_MAX_ACTIVE_PER_USER: '3',
      NODE_ENV: 'test',
    }
    for (let i = 0; i < 2; i++) apis.push(new NodeProcess('api', env))
    for (let i = 0; i < 3; i++) workers.push(new NodeProcess('worker', env))
    const ready = await Promise.all(all().map((p) => p.waitFor((e) => e.event === 'ready', 'ready', 60_000)))
    urls.push(...ready.slice(0, 2).map((e) => String(e.url)))
  })

  after(async () => {
    await Promise.all(all().map((p) => p.stop()))
    await stopStack?.()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function call(
    api: number,
    method: string,
    path: string,
    body?: unknown,
    user = 'carol',
    headers: Record<string, string> = {},
  ) {
    const res = await fetch(`${urls[api]}${path}`, {
      method,
      headers: {
        authorization: token(user),
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  const workEvents = (event: string): (ProcessEvent & { worker: number })[] =>
    workers.flatMap((w) => w.events.filter((e) => e.event === event).map((e) => ({ ...e, worker: w.pid })))

  test(`multiprocess on ${stack.name}: a schedule every second, run by three schedulers, runs each of ten ticks exactly once`, {
    skip,
  }, async () => {
    const start = Math.ceil(Date.now() / 1000) * 1000 + 1000
    const window = Array.from({ length: 10 }, (_, i) => new Date(start + i * 1000).toISOString())
    const after = new Date(start + 11_000).toISOString()
    const ticks = () => workEvents('tick ran').map((e) => String(e.tick))
    // Two ticks past the window have run, and every tick of the window has run at least once.
    await whenAll(
      workers,
      () => ticks().some((t) => t >= after) && window.every((t) => ticks().includes(t)),
      'ten ticks to run',
      30_000,
    )
    const runs = ticks().filter((t) => window.includes(t))
    assert.equal(runs.length, 10, `exactly ten runs for ten ticks: ${runs.join(', ')}`)
    assert.equal(new Set(runs).size, 10)
  })

  test(`multiprocess on ${stack.name}: six parallel export requests for one user over both APIs: exactly three accepted`, {
    skip,
  }, async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        call(i % 2, 'POST', '/v1/exports', { kind: 'activities', format: 'csv' }, 'erin'),
      ),
    )
    const statuses = results.map((r) => r.status).sort()
    assert.deepEqual(statuses, [202, 202, 202, 429, 429, 429], JSON.stringify(results.map((r) => r.body)))
  })

  test(`multiprocess on ${stack.name}: a job's status is the same from either API`, { skip }, async () => {
    const posted = await call(0, 'POST', '/v1/jobs', { type: 'test.work', payload: { n: -1, ms: 0 } })
    assert.equal(posted.status, 202, JSON.stringify(posted.body))
    const id = String(posted.body.id)
    const fromFirst = await eventually(
      async () => {
        const r = await call(0, 'GET', `/v1/jobs/${id}`)
        return r.body.status === 'succeeded' && r
      },
      'the job to succeed',
      { timeoutMs: 20_000, everyMs: 100 },
    )
    const fromSecond = await call(1, 'GET', `/v1/jobs/${id}`)
    assert.equal(fromSecond.status, 200)
    assert.deepEqual(fromSecond.body, fromFirst.body)
    assert.deepEqual((fromSecond.body.result as { n: number }).n, -1)
  })

  test(`multiprocess on ${stack.name}: the caller's trace reaches the worker process through the envelope; its log lines carry the trace id`, {
    skip,
  }, async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const posted = await call(
      1,
      'POST',
      '/v1/jobs',
      { type: 'test.work', payload: { n: -2, ms: 0 } },
      'carol',
      {
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      },
    )
    assert.equal(posted.status, 202)
    const done = await Promise.any(
      workers.map((w) => w.waitFor((e) => e.event === 'work done' && e.n === -2, 'the traced job')),
    )
    assert.equal(
      done.traceId,
      traceId,
      'the API process (request span → send span) and the worker (attempt span) share the trace',
    )
    assert.equal(done.jobId, posted.body.id)
  })

  test(`multiprocess on ${stack.name}: a batch of jobs is processed by all three workers`, {
    skip,
  }, async () => {
    // Sent in rounds of 60 until every worker has taken part (at most six rounds): a broker may hand a
    // round to the streams it favours (the Pub/Sub emulator does), but a worker that never gets a job
    // in six rounds is not sharing the queue.
    const by = new Map<number, number>()
    for (let round = 0; round < 6 && by.size < 3; round++) {
      const ns = Array.from({ length: 60 }, (_, i) => round * 100 + i)
      const posted = await Promise.all(
        ns.map((n) => call(n % 2, 'POST', '/v1/jobs', { type: 'test.work', payload: { n, ms: 100 } })),
      )
      assert.ok(posted.every((p) => p.status === 202))
      const done = () => new Set(workEvents('work done').map((e) => Number(e.n)))
      await whenAll(workers, () => ns.every((n) => done().has(n)), 'the batch to finish', 30_000)
      for (const e of workEvents('work done').filter((e) => ns.includes(Number(e.n))))
        by.set(e.worker, (by.get(e.worker) ?? 0) + 1)
    }
    assert.equal(by.size, 3, `every worker took part: ${JSON.stringify([...by])}`)
  })

  test(`multiprocess on ${stack.name}: a worker killed with SIGKILL mid-run: its jobs run on the others after the lease, none lost`, {
    skip,
  }, async () => {
    const ns = Array.from({ length: 6 }, (_, i) => 1000 + i)
    const posted = await Promise.all(
      ns.map((n) => call(n % 2, 'POST', '/v1/jobs', { type: 'test.work', payload: { n, ms: 1_500 } })),
    )
    assert.ok(posted.every((r) => r.status === 202))
    // The victim is the first worker seen running one of them (started, not done): killed mid-run.
    const running = (w: NodeProcess) => (e: ProcessEvent) =>
      e.event === 'work started' &&
      ns.includes(Number(e.n)) &&
      !w.events.some((d) => d.event === 'work done' && d.n === e.n)
    const victim = await Promise.any(
      workers.map((w) => w.waitFor(running(w), 'a worker to be running one').then(() => w)),
    )
    victim.child.kill('SIGKILL')
    await victim.exited
    const startedByVictim = victim.events
      .filter((e) => e.event === 'work started' && ns.includes(Number(e.n)))
      .map((e) => Number(e.n))
    const doneByVictim = new Set(victim.events.filter((e) => e.event === 'work done').map((e) => Number(e.n)))
    const interrupted = startedByVictim.filter((n) => !doneByVictim.has(n))
    assert.ok(interrupted.length > 0, 'the victim died holding a job')
    const survivors = workers.filter((w) => w !== victim)
    const doneBySurvivors = () =>
      new Set(
        survivors.flatMap((w) => w.events.filter((e) => e.event === 'work done').map((e) => Number(e.n))),
      )
    await whenAll(
      survivors,
      () => ns.every((n) => doneByVictim.has(n) || doneBySurvivors().has(n)),
      'every job to finish somewhere',
      60_000,
    )
    for (const n of interrupted)
      assert.ok(doneBySurvivors().has(n), `job ${n}, interrupted by the kill, ran again on a survivor`)
  })
}
