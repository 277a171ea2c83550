import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { startOutageProxy } from '../support/emulators.ts'

/** An echo server on a loopback port. */
async function echoServer() {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.pipe(s)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

async function client(port: number) {
  const socket = connect({ host: '127.0.0.1', port })
  await once(socket, 'connect')
  let received = ''
  const waiters: (() => void)[] = []
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString()
    for (const w of waiters.splice(0)) w()
  })
  return {
    socket,
    get received() {
      return received
    },
    /** Resolves once `text` has come back. */
    until: async (text: string) => {
      while (!received.includes(text)) await new Promise<void>((r) => waiters.push(r))
    },
  }
}

test('outage proxy: a stall answers nothing on open or new connections; restore drops the silent ones and forwards again', async (t) => {
  const echo = await echoServer()
  const proxy = await startOutageProxy(echo.port)
  t.after(async () => {
    await proxy.stop()
    await echo.close()
  })
  const open = await client(proxy.port)
  open.socket.write('before')
  await open.until('before')

  await proxy.stall()
  open.socket.write('lost')
  const late = await client(proxy.port) // accepted while stalled
  late.socket.write('new')
  // Nothing to await: this window checks that nothing comes back while stalled.
  await sleep(300)
  assert.equal(open.received, 'before')
  assert.equal(late.received, '')

  const dropped = Promise.all([once(open.socket, 'close'), once(late.socket, 'close')])
  await proxy.restore()
  await dropped
  const again = await client(proxy.port)
  again.socket.write('back')
  await again.until('back')
  again.socket.destroy()
})

test('outage proxy: a cut closes open connections and refuses new ones until restore', async (t) => {
  const echo = await echoServer()
  const proxy = await startOutageProxy(echo.port)
  t.after(async () => {
    await proxy.stop()
    await echo.close()
  })
  const open = await client(proxy.port)
  const closed = once(open.socket, 'close')
  await proxy.cut()
  await closed
  const refused = connect({ host: '127.0.0.1', port: proxy.port })
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
  assert.equal(err.code, 'ECONNREFUSED')

  await proxy.restore()
  const again = await client(proxy.port)
  again.socket.write('back')
  await again.until('back')
  again.socket.destroy()
})
