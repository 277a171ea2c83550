import { generateKeyPairSync } from 'node:crypto'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { Storage } from '@google-cloud/storage'

/**
 * The Cloud Storage emulator of `firebase-tools` (the GCS JSON API: simple, multipart and resumable
 * uploads, metadata, listing, delete, downloads) on a free loopback port, started without the
 * firebase CLI. The CLI insists on Java 21 and downloads a rules engine; the JSON API part is Node
 * code that needs neither, so this builds its Express app directly (`createApp`) and registers the
 * instance where the emulator looks up its own address. Its Firebase-rules paths are not used.
 *
 * Known gaps, checked here: it does not create buckets through the JSON API (a bucket comes into
 * being with its first object), so it cannot report a missing bucket; it does not verify signed URLs.
 */
export interface RunningGcsEmulator {
  /** `http://127.0.0.1:<port>`: the value of STORAGE_EMULATOR_HOST. */
  host: string
  /** A client for it, with a generated service-account key so V4 URLs can be signed. */
  storage: Storage
  stop(): Promise<void>
}

const require = createRequire(import.meta.url)

export async function startGcsEmulator(projectId = 'demo-conveyor'): Promise<RunningGcsEmulator> {
  process.env.METADATA_SERVER_DETECTION = 'none'
  const { StorageEmulator } = require('firebase-tools/lib/emulator/storage/index.js')
  const { createApp } = require('firebase-tools/lib/emulator/storage/server.js')
  const { EmulatorRegistry } = require('firebase-tools/lib/emulator/registry.js')
  const emulator = new StorageEmulator({ projectId, host: '127.0.0.1', port: 0, auto_download: false })
  const app = await createApp(projectId, emulator)
  const server = app.listen(0, '127.0.0.1') as import('node:http').Server
  await new Promise((resolve) => server.once('listening', resolve))
  const port = (server.address() as AddressInfo).port
  emulator.args.port = port
  EmulatorRegistry.set('storage', emulator)
  const host = `http://127.0.0.1:${port}`
  process.env.STORAGE_EMULATOR_HOST = host
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const storage = new Storage({
    projectId,
    apiEndpoint: host,
    credentials: {
      client_email: `conveyor@${projectId}.iam.gserviceaccount.com`,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    },
  })
  return {
    host,
    storage,
    stop: async () => {
      EmulatorRegistry.clear('storage')
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await emulator.stop().catch(() => {})
    },
  }
}
