import type { AddressInfo } from 'node:net'
import { connect, createServer, type Server, type Socket } from 'node:net'

// Dummy credentials and no instance-metadata lookups: the SDK must never reach for anything real.
export function useLocalAwsEnvironment(): void {
  process.env.AWS_ACCESS_KEY_ID ??= 'test'
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test'
  process.env.AWS_REGION ??= 'us-east-1'
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
}

export interface RunningEmulator {
  endpoint: string
  port: number
  /** Requests served so far, by action (`ReceiveMessage`, `PutObject`...). */
  requests: Map<string, number>
  stop(): Promise<void>
}

/** fauxqs (SQS + S3) in this process, on a free loopback port. */
export async function startFauxqs(): Promise<RunningEmulator> {
  useLocalAwsEnvironment()
  const { buildApp } = await import('fauxqs')
  const app = buildApp({ logger: false, defaultRegion: process.env.AWS_REGION })
  const requests = new Map<string, number>()
  app.addHook('onRequest', async (req) => {
    const target = req.headers['x-amz-target']
    const action = typeof target === 'string' ? target.split('.').at(-1)! : `S3 ${req.method}`
    requests.set(action, (requests.get(action) ?? 0) + 1)
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  return { endpoint: `http://127.0.0.1:${port}`, port, requests, stop: () => app.close() }
}

/** aws-ses-v2-local in this process, on a free loopback port. Read mail back with `GET /store`. */
export async function startSesEmulator(): Promise<Omit<RunningEmulator, 'requests'>> {
  useLocalAwsEnvironment()
  const sesLocal = await import('aws-ses-v2-local')
  // A CommonJS module: its default export arrives as default.default.
  const start = ((sesLocal.default as { default?: unknown }).default ??
    sesLocal.default) as unknown as typeof sesLocal.default.default
  const server = await start({ host: '127.0.0.1', port: 0 })
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A TCP proxy a test can cut or stall; see startOutageProxy. */
export interface OutageProxy {
  endpoint: string
  port: number
  /** Refuse connections: the port is closed, every open connection is dropped. */
  cut(): Promise<void>
  /**
   * Accept connections but forward nothing, either way: what a client sees when the network or the
   * broker hangs. Open connections go silent too.
   */
  stall(): Promise<void>
  /** Forward again after `cut` or `stall`. */
  restore(): Promise<void>
  stop(): Promise<void>
}

/**
 * A TCP proxy in front of an emulator, so a test can take the network away (`cut`), make it hang
 * (`stall`) and give it back (`restore`) while the emulator keeps its state: what a client sees when
 * its backend is unreachable.
 */
export async function startOutageProxy(targetPort: number): Promise<OutageProxy> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  let stalled = false
  const listen = () =>
    new Promise<void>((resolve) => {
      const listening = createServer((client) => {
        sockets.add(client)
        client.on('error', () => client.destroy()).on('close', () => sockets.delete(client))
        if (stalled) {
          client.resume() // read and drop whatever the client sends; answer nothing
          return
        }
        const upstream = connect({ host: '127.0.0.1', port: targetPort })
        sockets.add(upstream)
        client.pipe(upstream).pipe(client)
        const drop = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on('error', drop).on('close', drop)
        upstream.on('error', drop).on('close', drop)
      })
      server = listening
      listening.listen({ host: '127.0.0.1', port }, () => {
        port = (listening.address() as AddressInfo).port
        resolve()
      })
    })
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      if (!server?.listening) return resolve()
      server.close(() => resolve())
    })
  await listen()
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    cut: close,
    stall: async () => {
      stalled = true
      // Open connections go silent: stop moving bytes without closing them.
      for (const s of sockets) {
        s.unpipe()
        s.removeAllListeners('data')
        s.resume()
      }
      if (!server?.listening) await listen()
    },
    restore: async () => {
      if (stalled) {
        stalled = false
        await close() // silent connections are dropped; clients reconnect through a forwarding proxy
      }
      if (!server?.listening) await listen()
    },
    stop: async () => {
      await close()
    },
  }
}
