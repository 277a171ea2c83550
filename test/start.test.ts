import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { INSTALL_NODE_24, nodeProblem } from '../bin/check-node.mjs'
import { freePort } from './support/ports.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(join(REPO, 'README.md'), 'utf8')

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

test('start: Node older than 22.18 gets instructions to get Node 24 with npm alone; newer passes', () => {
  for (const version of ['20.20.2', '22.17.1', '18.0.0']) {
    const problem = nodeProblem(version)
    assert.ok(problem?.includes(`this is Node ${version}`), version)
    assert.ok(problem?.includes(INSTALL_NODE_24))
  }
  for (const version of ['22.18.0', '23.6.0', '24.0.0', '25.1.0'])
    assert.equal(nodeProblem(version), undefined)
})

test("start: the README's first screen shows the same npm-only Node 24 install line that npm start prints", () => {
  const firstScreen = readme.split('\n---\n')[0]!
  assert.ok(firstScreen.includes(INSTALL_NODE_24), 'README first screen has the install line')
})

test('start: npm start on the Node 20 of a fresh machine prints what to do instead of ERR_UNKNOWN_FILE_EXTENSION', () => {
  // The machines this runs on have the distribution's Node 20 in /usr/bin next to Node 24 on PATH.
  const old = ['/usr/bin/node', '/usr/local/bin/node'].find(
    (path) =>
      existsSync(path) &&
      nodeProblem(execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()),
  )
  assert.ok(old, 'an older Node is on this machine (the first-hour setup)')
  const result = spawnSyncNpm(['start'], { PATH: `${dirname(old)}:${process.env.PATH}` })
  assert.equal(result.status, 1)
  assert.match(result.stderr, /Conveyor needs Node 24 \(or 22\.18\+\)/)
  assert.doesNotMatch(result.stderr, /ERR_UNKNOWN_FILE_EXTENSION/)
})

function spawnSyncNpm(args: string[], env: Record<string, string>): { status: number; stderr: string } {
  try {
    execFileSync('npm', args, { cwd: REPO, env: { ...process.env, ...env }, stdio: 'pipe', encoding: 'utf8' })
    return { status: 0, stderr: '' }
  } catch (err) {
    const e = err as { status: number; stderr: string }
    return { status: e.status, stderr: e.stderr }
  }
}

test('start: SIGTERM to the npm process of `npm start` stops the service and frees the port', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-start-'))
  const port = await freePort()
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: REPO,
    env: {
      ...process.env,
      PORT: String(port),
      STORAGE_DIR: dir,
      LOG_FORMAT: 'json',
      NODE_ENV: 'development',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: npm.stdout! }).on('line', (line) => {
      lines.push(line)
      if (line.startsWith('API: ')) resolve()
    })
    createInterface({ input: npm.stderr! }).on('line', (line) => lines.push(line))
  })
  // 'close' fires once every process holding npm's stdout/stderr has exited: npm and the service.
  const closed = once(npm, 'close')
  t.after(async () => {
    const pid = servicePid(lines)
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })
  await ready
  assert.equal(await listening(port), true)
  const pid = servicePid(lines)
  assert.ok(pid && pid !== npm.pid, 'the service logs its own pid')

  npm.kill('SIGTERM')
  // Without the fix npm exits and the service keeps running (and holding the pipes): fail, don't hang.
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    closed,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the service outlived npm (pid ${pid}, still alive: ${alive(pid)})`)),
        30_000,
      )
    }),
  ]).finally(() => clearTimeout(timer))
  assert.equal(alive(pid), false, 'the service process is gone')
  assert.equal(await listening(port), false, 'the port is free')
  assert.ok(
    lines.some((l) => l.includes('"msg":"stopped"')),
    `the service stopped gracefully:\n${lines.join('\n')}`,
  )
})

function servicePid(lines: string[]): number | undefined {
  for (const line of lines) {
    const match = /^\{.*"pid":(\d+)/.exec(line)
    if (match) return Number(match[1])
  }
  return undefined
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
