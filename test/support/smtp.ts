import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'

// mailparser has no bundled types; only simpleParser's few fields are used here.
const require = createRequire(import.meta.url)
const { simpleParser } = require('mailparser') as {
  simpleParser(
    source: Buffer,
  ): Promise<{ subject?: string; text?: string; html?: string | false; from?: { text: string } }>
}

export interface ReceivedMail {
  /** Envelope sender and recipients (MAIL FROM / RCPT TO). */
  envelopeFrom: string
  envelopeTo: string[]
  from: string
  subject: string
  text: string
  html: string
  /** Whether the session had been upgraded with STARTTLS when the message came in. */
  secure: boolean
  user: string | undefined
}

export interface SmtpTestServer {
  /** `smtp://user:pass@127.0.0.1:port?tls.rejectUnauthorized=false` (smtp-server's own self-signed certificate). */
  url: string
  port: number
  received: ReceivedMail[]
  /** Resolves once `count` messages have arrived in all. */
  waitFor(count: number): Promise<ReceivedMail[]>
  /** The next `n` DATA commands are cut off: the socket is destroyed before the reply. */
  dropNext(n: number): void
  stop(): Promise<void>
}

/** A real SMTP server (npm `smtp-server`) on a free loopback port, with STARTTLS and AUTH PLAIN/LOGIN. */
export async function startSmtpServer(
  credentials = { user: 'conveyor', pass: 's3cret' },
  options: Partial<SMTPServerOptions> = {},
): Promise<SmtpTestServer> {
  const received: ReceivedMail[] = []
  const waiters: { count: number; resolve: (mail: ReceivedMail[]) => void }[] = []
  let drops = 0
  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    disableReverseLookup: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === credentials.user && auth.password === credentials.pass) {
        return callback(null, { user: auth.username })
      }
      return callback(new Error('Invalid username or password'))
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', async () => {
        if (drops > 0) {
          drops--
          // What a relay restart or a network cut looks like to the client: no reply, a closed socket.
          destroyConnections()
          return
        }
        const parsed = await simpleParser(Buffer.concat(chunks))
        received.push({
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          envelopeTo: session.envelope.rcptTo.map((r) => r.address),
          from: parsed.from?.text ?? '',
          subject: parsed.subject ?? '',
          text: parsed.text ?? '',
          html: parsed.html || '',
          secure: session.secure,
          user: session.user as string | undefined,
        })
        for (const w of [...waiters]) {
          if (received.length >= w.count) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(received)
          }
        }
        callback()
      })
    },
    ...options,
  })
  function destroyConnections(): void {
    for (const c of server.connections) (c as { _socket: { destroy(): void } })._socket.destroy()
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.server.address() as AddressInfo).port
  const auth = `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.pass)}`
  return {
    url: `smtp://${auth}@127.0.0.1:${port}?tls.rejectUnauthorized=false`,
    port,
    received,
    waitFor: (count) =>
      received.length >= count
        ? Promise.resolve(received)
        : new Promise((resolve) => waiters.push({ count, resolve })),
    dropNext(n) {
      drops = n
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        destroyConnections()
      }),
  }
}
