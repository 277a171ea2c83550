import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { freePort } from './support/ports.ts'
import { exitCode, startService as start } from './support/service-process.ts'

test('npm start: API and worker on the embedded defaults, a demo export emailed, a clean stop on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-main-'))
  const port = await freePort()
  const app = start({ STORAGE_DIR: dir, PORT: String(port), LOG_LEVEL: 'info' })
  t.after(async () => {
    if (app.child.exitCode === null) app.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })
  await app.line(/^API: http:\/\/127\.0\.0\.1:\d+/)
  const token = (await app.line(/^ {2}ey[\w-]+\.[\w-]+\.[\w-]+$/)).trim()
  // A link that signs the demo admin in to the dashboard, the token in the fragment.
  const dashboard = (await app.line(/\/dashboard#token=/)).trim()
  assert.equal(dashboard, `http://127.0.0.1:${port}/dashboard#token=${token}`)
  await app.line(/"msg":"export-ready email sent"/)
  const base = `http://127.0.0.1:${port}`
  const exports = (await (
    await fetch(`${base}/v1/exports`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as {
    items: { status: string; rows: number }[]
  }
  assert.deepEqual(
    exports.items.map((e) => [e.status, e.rows]),
    [['completed', 10_000]],
  )
  const outbox = (await (await fetch(`${base}/dev/outbox`)).json()) as { items: { subject: string }[] }
  assert.deepEqual(outbox.items.map((m) => m.subject).sort(), [
    'Welcome to Conveyor, Demo',
    'Your activities export (CSV) is ready',
  ])

  app.child.kill('SIGTERM')
  assert.equal(await exitCode(app.child), 0)
  assert.ok(app.lines.some((l) => l.includes('"msg":"stopped"')))
})

test('npm start: a worker or api role without AUTH_JWT_SECRET, or api on the memory queue, is refused with the reason', async () => {
  const worker = start({ STORAGE_DIR: tmpdir() }, ['worker'])
  await worker.line(/Conveyor cannot start: role "worker" needs AUTH_JWT_SECRET/)
  assert.equal(await exitCode(worker.child), 1)
  const api = start({ STORAGE_DIR: tmpdir() }, ['api'])
  await api.line(/Conveyor cannot start: role "api" with QUEUE_DRIVER=memory/)
  assert.equal(await exitCode(api.child), 1)
  const bad = start({ EXPORT_TTL_HOURS: '-1', PORT: 'x' })
  await bad.line(/Conveyor cannot start: .*/)
  assert.equal(await exitCode(bad.child), 1)
  assert.match(bad.lines.join('\n'), /PORT/)
  assert.match(bad.lines.join('\n'), /EXPORT_TTL_HOURS/)
  const logo = start({ STORAGE_DIR: tmpdir(), BRAND_LOGO: join(tmpdir(), 'no-such-logo.png') })
  await logo.line(/BRAND_LOGO: cannot read .*no-such-logo\.png/)
  assert.equal(await exitCode(logo.child), 1)
})
