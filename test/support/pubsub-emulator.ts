import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

const DEBIAN_DIR = '/usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib'

export interface PubSubEmulator {
  /** host:port, as PUBSUB_EMULATOR_HOST wants it. */
  host: string
  /** Stops it (if this harness started it) and waits for it to exit. */
  stop(): Promise<void>
  /** Stops and starts it again on the same port (its state is lost, as in a real restart). */
  restart(): Promise<void>
}

/** How the emulator can be run here, or why it cannot. */
export function findPubSubEmulator(): { command: string[] } | { external: string } | { missing: string } {
  // CONVEYOR_TEST_GCP=1: a real project (GOOGLE_CLOUD_PROJECT and application default credentials).
  if (process.env.CONVEYOR_TEST_GCP === '1') return { external: 'a real Google Cloud project' }
  if (process.env.PUBSUB_EMULATOR_HOST) return { external: process.env.PUBSUB_EMULATOR_HOST }
  const jar = process.env.PUBSUB_EMULATOR_JAR ?? findDebianJar()
  if (jar) return { command: ['java', '-jar', jar] }
  try {
    execFileSync('gcloud', ['--version'], { stdio: 'ignore' })
    return { command: ['gcloud', 'beta', 'emulators', 'pubsub', 'start'] }
  } catch {
    return {
      missing:
        'no Pub/Sub emulator: set PUBSUB_EMULATOR_HOST, or PUBSUB_EMULATOR_JAR, or install google-cloud-cli-pubsub-emulator (or gcloud)',
    }
  }
}

function findDebianJar(): string | undefined {
  if (!existsSync(DEBIAN_DIR)) return undefined
  const jar = readdirSync(DEBIAN_DIR).find((f) => f.endsWith('-all.jar'))
  return jar ? join(DEBIAN_DIR, jar) : undefined
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Starts the official emulator on a free loopback port (or uses PUBSUB_EMULATOR_HOST). */
export async function startPubSubEmulator(): Promise<PubSubEmulator> {
  if (process.env.CONVEYOR_TEST_GCP !== '1') {
    process.env.METADATA_SERVER_DETECTION = 'none'
    process.env.GOOGLE_CLOUD_PROJECT ??= 'conveyor-test'
  }
  const found = findPubSubEmulator()
  if ('missing' in found) throw new Error(found.missing)
  if ('external' in found) {
    return {
      host: found.external,
      stop: async () => {},
      restart: async () => Promise.reject(new Error('cannot restart an external emulator')),
    }
  }
  const port = await freePort()
  const host = `127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const start = async () => {
    const [cmd, ...args] = found.command
    child = spawn(cmd!, [...args, '--host=127.0.0.1', `--port=${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('Pub/Sub emulator did not start within 30 s')), 30_000)
      const onData = (chunk: Buffer) => {
        if (chunk.toString().includes('Server started')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child!.stdout!.on('data', onData)
      child!.stderr!.on('data', onData)
      child!.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`Pub/Sub emulator exited with ${code}`))
      })
    })
  }
  const stop = async () => {
    if (!child || child.exitCode !== null) return
    const exited = new Promise((resolve) => child!.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
  await start()
  process.env.PUBSUB_EMULATOR_HOST = host
  return {
    host,
    stop,
    restart: async () => {
      await stop()
      await start()
    },
  }
}

/**
 * For test files: whether Pub/Sub tests can run. Without an emulator they are skipped with one loud
 * line, unless CONVEYOR_REQUIRE_PUBSUB_EMULATOR=1 (CI sets it), which makes that a failure.
 */
export function pubsubSkipReason(): string | false {
  const found = findPubSubEmulator()
  if (!('missing' in found)) return false
  if (process.env.CONVEYOR_REQUIRE_PUBSUB_EMULATOR === '1')
    throw new Error(`CONVEYOR_REQUIRE_PUBSUB_EMULATOR=1 but ${found.missing}`)
  console.warn(`\n*** SKIPPING Pub/Sub tests: ${found.missing} ***\n`)
  return found.missing
}

/** Deletes every subscription and topic whose name starts with `prefix` (what a test run made). */
export async function deletePubSubResources(prefix: string): Promise<void> {
  const { PubSub } = await import('@google-cloud/pubsub')
  const pubsub = new PubSub()
  const name = (full: string) => full.split('/').pop() ?? ''
  const [subscriptions] = await pubsub.getSubscriptions()
  for (const sub of subscriptions)
    if (name(sub.name).startsWith(prefix)) await sub.delete().catch(() => undefined)
  const [topics] = await pubsub.getTopics()
  for (const topic of topics)
    if (name(topic.name).startsWith(prefix)) await topic.delete().catch(() => undefined)
  await pubsub.close()
}
