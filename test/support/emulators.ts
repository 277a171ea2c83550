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

/**
 * A TCP proxy in front of an emulator, so a test can take the network away (`cut`) and give it back
 * (`restore`) while the emulator keeps its state: what a client sees when its backend is unreachable.
 */
export async function startOutageProxy(
  targetPort: number,
): Promise<{ endpoint: string; cut(): Promise<void>; restore(): Promise<void>; stop(): Promise<void> }> {
  const sockets = new Set<Socket>()
  let server: Server
  let port = 0
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect({ host: '127.0.0.1', port: targetPort })
        sockets.add(client).add(upstream)
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
      server.listen({ host: '127.0.0.1', port }, () => {
        port = (server.address() as AddressInfo).port
        resolve()
      })
    })
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      server.close(() => resolve())
    })
  await listen()
  return { endpoint: `http://127.0.0.1:${port}`, cut: close, restore: listen, stop: close }
}
