import type { AddressInfo } from 'node:net'
import { createServer, type Socket } from 'node:net'
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
