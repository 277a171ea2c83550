import type { AddressInfo } from 'node:net'
import { connect, createServer, type Socket } from 'node:net'
import { useLocalAwsEnvironment } from './emulators.ts'

export interface Dynalite {
  endpoint: string
  port: number
  stop(): Promise<void>
}

/** dynalite (DynamoDB on in-memory LevelDB) in this process, on a free loopback port. */
export async function startDynalite(): Promise<Dynalite> {
  useLocalAwsEnvironment()
  const { default: dynalite } = await import('dynalite')
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
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
 * A TCP peer that accepts connections and never answers: what a client sees when its backend (or a
 * proxy in front of it) stalls. Clients must time out on their own.
 */
export async function startStalledServer(): Promise<{ port: number; host: string; stop(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    host: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/**
 * A TCP proxy to `targetPort` that can stall: `stall()` stops moving bytes either way on every
 * connection (and holds new ones), as a hung backend or middlebox would, without closing anything;
 * `resume()` lets the bytes flow again; `reset()` drops the stalled connections instead (as a middlebox
 * timing them out would) and lets new ones through, so a client library that keeps retrying underneath
 * can finish.
 */
export async function startStallingProxy(
  targetPort: number,
): Promise<{ host: string; stall(): void; resume(): void; reset(): void; stop(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const pairs: [Socket, Socket][] = []
  const held: Socket[] = []
  let stalled = false
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
  }
  const join = ([client, upstream]: [Socket, Socket]) => {
    client.pipe(upstream)
    upstream.pipe(client)
  }
  const forward = (client: Socket) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort })
    track(upstream)
    upstream.on('close', () => client.destroy())
    client.on('close', () => upstream.destroy())
    const pair: [Socket, Socket] = [client, upstream]
    pairs.push(pair)
    join(pair)
  }
  const server = createServer((client) => {
    track(client)
    if (stalled) {
      client.pause()
      held.push(client)
    } else forward(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port
  return {
    host: `127.0.0.1:${port}`,
    stall() {
      stalled = true
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
    },
    resume() {
      stalled = false
      for (const pair of pairs) if (!pair[0].destroyed) join(pair)
      for (const client of held.splice(0)) if (!client.destroyed) forward(client)
    },
    reset() {
      stalled = false
      for (const socket of [...held.splice(0), ...pairs.splice(0).flat()]) socket.destroy()
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
