import assert from 'node:assert/strict'
import { type ChildProcess, execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createSigner } from 'fast-jwt'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import { ExportRecords } from '../handlers/exports/records.ts'
import { newId } from '../src/ids.ts'
import { defineJob } from '../src/job.ts'
import { createLogger, logFormat } from '../src/logger.ts'
import { Metrics } from '../src/metrics.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { buildApp } from '../src/service/http/app.ts'
import { FsObjectStore } from '../src/storage/fs-store.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { testLogger } from './support/async.ts'
import { freePort } from './support/ports.ts'
import { exitCode, startService as start } from './support/service-process.ts'
import { bearer, SECRET, TestStack } from './support/stack.ts'

// What a newcomer meets in the first hour of `npm start`: restarts, stops, tokens, a busy port.

const CLI = fileURLToPath(new URL('../src/service/cli.ts', import.meta.url))

async function stop(child: ChildProcess): Promise<number | null> {
  child.kill('SIGTERM')
  return exitCode(child)
}

test('first hour: the development secret survives a restart; exports cut off by a stop are failed at start; a stop logs what the memory queue drops', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-first-hour-'))
  const children: ChildProcess[] = []
  t.after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })
  // An export the previous run left `running` (its job died with that process's memory queue).
  const records = new ExportRecords(new FsObjectStore(dir))
  const now = new Date().toISOString()
  const stuck = newId()
  await records.put({
    id: stuck,
    owner: 'demo',
    kind: 'activities',
    format: 'csv',
    params: {},
    status: 'running',
    createdAt: now,
    updatedAt: now,
  })

  const port = await freePort()
  const env = { STORAGE_DIR: dir, PORT: String(port), LOG_FORMAT: 'json' }
  const first = start(env)
  children.push(first.child)
  await first.line(/^API: http:\/\/127\.0\.0\.1:\d+ .*development secret in /)
  const token = (await first.line(/^ {2}ey[\w-]+\.[\w-]+\.[\w-]+$/)).trim()
  const base = `http://127.0.0.1:${port}`
  const auth = { authorization: `Bearer ${token}` }
  await first.line(
    /"exports":1,.*"msg":"exports interrupted by the last stop \(memory queue\) are marked failed"/,
  )
  const record = (await (await fetch(`${base}/v1/exports/${stuck}`, { headers: auth })).json()) as {
    status: string
    error: string
  }
  assert.equal(record.status, 'failed')
  assert.match(record.error, /^interrupted: .*memory queue keeps no jobs across restarts/)

  // A job due in ten minutes is still on the memory queue when the process stops.
  const later = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'demo.greet', payload: { name: 'Tomorrow' }, delayMs: 600_000 }),
  })
  assert.equal(later.status, 202)
  assert.equal(await stop(first.child), 0)
  const dropped = first.lines.find((l) => l.includes('"dropped":'))
  assert.ok(dropped, `a stop logs what the memory queue drops:\n${first.lines.join('\n')}`)
  const drop = JSON.parse(dropped) as {
    level: number
    dropped: Record<string, number>
    total: number
    msg: string
  }
  assert.equal(drop.level, 40, 'a warning')
  assert.ok((drop.dropped.default ?? 0) >= 1, 'the delayed greeting is counted on its queue')
  assert.match(
    drop.msg,
    new RegExp(`^the memory queue keeps nothing across restarts: ${drop.total} jobs? not run (is|are) lost`),
  )

  // The same folder, a new process: the token made by the first run still works.
  const second = start(env)
  children.push(second.child)
  await second.line(/^API: /)
  const list = await fetch(`${base}/v1/exports`, { headers: auth })
  assert.equal(list.status, 200, 'a token from before the restart is accepted')
  assert.equal(await stop(second.child), 0)
})

test('first hour: with AUTH_JWT_SECRET set, start-up prints the URL and how to make a token; the CLI token works on the API', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-first-hour-'))
  const port = await freePort()
  const env = {
    STORAGE_DIR: dir,
    PORT: String(port),
    LOG_FORMAT: 'json',
    AUTH_JWT_SECRET: 'a-secret-for-this-test-that-is-long-enough',
  }
  const app = start(env)
  t.after(async () => {
    if (app.child.exitCode === null) app.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })
  await app.line(/^API: http:\/\/127\.0\.0\.1:\d+ {3}\(tokens are signed with AUTH_JWT_SECRET\)$/)
  await app.line(/^Make a token: npm run conveyor -- token --sub <user>/)
  assert.ok(!app.lines.some((l) => l.startsWith('Demo token')), 'no demo token with a real secret')

  const { stdout } = await promisify(execFile)(
    process.execPath,
    [CLI, 'token', '--sub', 'ops', '--email', 'ops@example.com', '--role', 'admin'],
    { env: { PATH: process.env.PATH ?? '', ...env } },
  )
  const queues = await fetch(`http://127.0.0.1:${port}/v1/admin/queues`, {
    headers: { authorization: `Bearer ${stdout.trim()}` },
  })
  assert.equal(queues.status, 200, 'an admin token from the CLI opens the admin API')
  assert.equal(await stop(app.child), 0)
})

test('first hour: a port in use is one line saying so, not a stack trace', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-first-hour-'))
  const taken = createServer()
  taken.listen(0, '127.0.0.1')
  await once(taken, 'listening')
  const { port } = taken.address() as { port: number }
  t.after(async () => {
    taken.close()
    await rm(dir, { recursive: true, force: true })
  })
  const app = start({ STORAGE_DIR: dir, PORT: String(port), LOG_FORMAT: 'json' })
  assert.equal(await exitCode(app.child), 1)
  await app.line(
    new RegExp(
      `^Conveyor cannot start: port ${port} on 127\\.0\\.0\\.1 is already in use: stop what uses it, or set PORT$`,
    ),
  )
  assert.ok(!app.lines.some((l) => /^\s+at /.test(l)), `no stack trace:\n${app.lines.join('\n')}`)
})

test('first hour: logs are readable lines in a terminal during development and JSON elsewhere; LOG_FORMAT decides when set', () => {
  assert.equal(logFormat(undefined, 'development', true), 'pretty')
  assert.equal(logFormat(undefined, 'production', true), 'json')
  assert.equal(logFormat(undefined, 'development', false), 'json', 'a pipe or a file gets JSON')
  assert.equal(logFormat('json', 'development', true), 'json')
  assert.equal(logFormat('pretty', 'production', false), 'pretty')

  const out = new PassThrough()
  let text = ''
  out.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  createLogger({ format: 'pretty', destination: out }).info({ jobId: 'j1' }, 'job succeeded')
  assert.match(text, /INFO.*job succeeded/)
  assert.match(text, /INFO: job succeeded \{"jobId":"j1"\}/, 'one readable line')
  assert.doesNotMatch(text, /^\{/, 'not JSON')
})

/** The request log lines of one app at `level`, after calling the polled routes and one other. */
async function requestLines(
  level: string,
): Promise<{ level: number; msg: string; url?: string; req?: { url: string } }[]> {
  const out = new PassThrough()
  const lines: { level: number; msg: string; url?: string; req?: { url: string } }[] = []
  createInterface({ input: out }).on('line', (l) => lines.push(JSON.parse(l)))
  const queue = new MemoryQueue()
  const app = await buildApp({
    services: {
      queue,
      registry: new JobRegistry(),
      producer: new Producer({ queue }),
      metrics: new Metrics(),
      readinessQueue: 'default',
    },
    jwtSecret: SECRET,
    logger: createLogger({ level, destination: out }),
  })
  const admin = { authorization: `Bearer ${createSigner({ key: SECRET })({ sub: 'ops', role: 'admin' })}` }
  for (const url of ['/healthz', '/readyz', '/metrics'])
    assert.equal((await app.inject({ url })).statusCode, 200, url)
  assert.equal((await app.inject({ url: '/v1/admin/queues', headers: admin })).statusCode, 200)
  assert.equal((await app.inject({ url: '/openapi.json' })).statusCode, 200)
  await app.close()
  await queue.close()
  return lines
}

test('first hour: health checks, /metrics and the dashboard poll log their requests at debug, other routes at info', async () => {
  const incoming = (lines: Awaited<ReturnType<typeof requestLines>>, level: number) =>
    lines.filter((l) => l.msg === 'incoming request' && l.level === level).map((l) => l.req?.url)
  const info = await requestLines('info')
  assert.deepEqual(incoming(info, 30), ['/openapi.json'])
  assert.equal(info.filter((l) => l.msg === 'request completed').length, 1)
  const debug = await requestLines('debug')
  assert.deepEqual(incoming(debug, 20), ['/healthz', '/readyz', '/metrics', '/v1/admin/queues'])
  assert.deepEqual(incoming(debug, 30), ['/openapi.json'])
})

test('first hour: export dates that are not on the calendar get a 400 saying so; an enum error lists the allowed values', async (t) => {
  const stack = await TestStack.start({ worker: false })
  t.after(() => stack.close())
  const post = (body: unknown) =>
    stack.app.inject({
      method: 'POST',
      url: '/v1/exports',
      headers: { authorization: bearer('ada') },
      payload: body as Record<string, unknown>,
    })
  for (const day of ['2026-13-01', '2026-02-30', '2026-04-31', '2026-00-10']) {
    const res = await post({ kind: 'activities', format: 'csv', params: { from: day } })
    assert.equal(res.statusCode, 400, day)
    assert.match(
      res.json().message,
      new RegExp(`params\\.from must be a calendar date as YYYY-MM-DD .*got "${day}"`),
    )
    const direct = await stack.app.inject({
      url: `/v1/activities/export.csv?to=${day}`,
      headers: { authorization: bearer('ada') },
    })
    assert.equal(direct.statusCode, 400, `direct CSV ${day}`)
    assert.match(direct.json().message, /to must be a calendar date/)
  }
  assert.equal(
    (await post({ kind: 'activities', format: 'csv', params: { from: '2024-02-29' } })).statusCode,
    202,
  )

  const bad = await post({ kind: 'activities', format: 'xlsx' })
  assert.equal(bad.statusCode, 400)
  assert.equal(bad.json().message, 'body/format must be one of csv, pdf')
})

test('first hour: conveyor_job_attempts_total counts attempts by outcome (a retry and then a success)', async (t) => {
  const queue = new MemoryQueue()
  let calls = 0
  const flaky = defineJob({
    type: 'flaky',
    schema: Type.Object({}),
    backoff: { baseMs: 1, maxMs: 1 },
    handle: () => {
      if (++calls === 1) throw new Error('once')
    },
  })
  const worker = new Worker({ queue, jobs: [flaky], logger: testLogger }).start()
  t.after(async () => {
    await worker.stop()
    await queue.close()
  })
  const outcomes = new JobOutcomes(worker)
  const { id } = await new Producer({ queue, metrics: worker.metrics }).enqueue(flaky, {})
  await outcomes.waitFor(id)
  const text = await worker.metrics.registry.metrics()
  assert.match(text, /conveyor_job_attempts_total\{queue="default",type="flaky",outcome="retry"\} 1/)
  assert.match(text, /conveyor_job_attempts_total\{queue="default",type="flaky",outcome="success"\} 1/)
  assert.doesNotMatch(text, /conveyor_jobs_completed_total/)
})
