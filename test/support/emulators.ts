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

export interface OutageProxy {
  endpoint: string
  port: number
  /** Refuse the network: every connection is dropped and new ones are refused. */
  cut(): Promise<void>
  /** Undo `cut`: listen again on the same port. */
  restore(): Promise<void>
  /**
   * A black hole: connections stay open and new ones are accepted, but no byte moves either way until
   * `resume` (what a client sees when a link or a broker hangs rather than refuses).
   */
  stall(): void
  /** Undo `stall`: everything held back flows on, and held new connections reach the target. */
  resume(): void
  stop(): Promise<void>
}

/**
 * A TCP proxy in front of an emulator, so a test can take the network away (`cut`, `stall`) and give it
 * back (`restore`, `resume`) while the emulator keeps its state: what a client sees when its backend is
 * unreachable.
 */
export async function startOutageProxy(targetPort: number): Promise<OutageProxy> {
  const sockets = new Set<Socket>()
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined }>()
  let stalled = false
  let server: Server
  let port = 0
  const link = (pair: { client: Socket; upstream: Socket | undefined }) => {
    const { client } = pair
    const upstream = connect({ host: '127.0.0.1', port: targetPort })
    pair.upstream = upstream
    sockets.add(upstream)
    client.pipe(upstream).pipe(client)
    upstream.on('error', () => drop(pair)).on('close', () => drop(pair))
  }
  const drop = (pair: { client: Socket; upstream: Socket | undefined }) => {
    pair.client.destroy()
    pair.upstream?.destroy()
    sockets.delete(pair.client)
    if (pair.upstream) sockets.delete(pair.upstream)
    pairs.delete(pair)
  }
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const pair: { client: Socket; upstream: Socket | undefined } = { client, upstream: undefined }
        sockets.add(client)
        pairs.add(pair)
        client.on('error', () => drop(pair)).on('close', () => drop(pair))
        if (stalled) client.pause()
        else link(pair)
      })
      server.listen({ host: '127.0.0.1', port }, () => {
        port = (server.address() as AddressInfo).port
        resolve()
      })
    })
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      pairs.clear()
      server.close(() => resolve())
    })
  await listen()
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    cut: close,
    restore: listen,
    stall() {
      stalled = true
      // Unpiping stops the flow both ways; what arrives meanwhile waits in the kernel and socket buffers.
      for (const { client, upstream } of pairs) {
        client.unpipe()
        upstream?.unpipe()
        client.pause()
        upstream?.pause()
      }
    },
    resume() {
      stalled = false
      for (const pair of pairs) {
        if (!pair.upstream) {
          link(pair)
          continue
        }
        pair.client.pipe(pair.upstream).pipe(pair.client)
      }
    },
    stop: close,
  }
}
