import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { freePort } from './ports.ts'

const DEBIAN_SCRIPT = '/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator'
const START_TIMEOUT_MS = 60_000

export interface FirestoreEmulator {
  /** host:port, as FIRESTORE_EMULATOR_HOST wants it. */
  host: string
  projectId: string
  /** Stops it (if this harness started it, with its java child) and waits for it to exit. */
  stop(): Promise<void>
}

/** How the emulator can be run here, or why it cannot. */
export function findFirestoreEmulator(): { command: string[] } | { external: string } | { missing: string } {
  if (process.env.FIRESTORE_EMULATOR_HOST) return { external: process.env.FIRESTORE_EMULATOR_HOST }
  const script = process.env.FIRESTORE_EMULATOR_SCRIPT ?? DEBIAN_SCRIPT
  if (existsSync(script)) return { command: [script] }
  return {
    missing:
      'no Firestore emulator: set FIRESTORE_EMULATOR_HOST or FIRESTORE_EMULATOR_SCRIPT, or install google-cloud-cli-firestore-emulator',
  }
}

/**
 * Starts Google's Firestore emulator on a free loopback port and waits until it answers HTTP (or uses
 * FIRESTORE_EMULATOR_HOST). Sets FIRESTORE_EMULATOR_HOST and METADATA_SERVER_DETECTION=none for the client.
 */
export async function startFirestoreEmulator(projectId = 'conveyor-test'): Promise<FirestoreEmulator> {
  process.env.METADATA_SERVER_DETECTION = 'none'
  const found = findFirestoreEmulator()
  if ('missing' in found) throw new Error(found.missing)
  if ('external' in found) return { host: found.external, projectId, stop: async () => {} }
  const port = await freePort()
  const host = `127.0.0.1:${port}`
  const [cmd, ...args] = found.command
  // Its own process group: the script starts java, and stopping must stop both.
  const child: ChildProcess = spawn(cmd!, [...args, '--host=127.0.0.1', `--port=${port}`], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2_000)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    try {
      process.kill(-child.pid!, 'SIGTERM')
    } catch {
      return
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {}
    }, 5_000)
    await exited
    clearTimeout(timer)
  }
  try {
    await waitUntilServing(`http://${host}/`, exited)
  } catch (err) {
    await stop()
    throw new Error(`${(err as Error).message}\n${stderr}`)
  }
  process.env.FIRESTORE_EMULATOR_HOST = host
  return { host, projectId, stop }
}

/** Polls the emulator's HTTP root until it answers (it says "Ok"); fails if the process exits first. */
async function waitUntilServing(url: string, exited: Promise<void>): Promise<void> {
  let gone = false
  void exited.then(() => {
    gone = true
  })
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (gone) throw new Error('the Firestore emulator exited before it was ready')
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the Firestore emulator did not answer within ${START_TIMEOUT_MS} ms`)
}

/**
 * For test files: whether Firestore tests can run. Without an emulator they are skipped with one loud
 * line, unless CONVEYOR_REQUIRE_PUBSUB_EMULATOR=1 (CI sets it for every Google emulator), which makes
 * that a failure.
 */
export function firestoreSkipReason(): string | false {
  const found = findFirestoreEmulator()
  if (!('missing' in found)) return false
  if (process.env.CONVEYOR_REQUIRE_PUBSUB_EMULATOR === '1')
    throw new Error(`CONVEYOR_REQUIRE_PUBSUB_EMULATOR=1 but ${found.missing}`)
  console.warn(`\n*** SKIPPING Firestore tests: ${found.missing} ***\n`)
  return found.missing
}
