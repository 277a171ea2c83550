import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { SESClient } from '@aws-sdk/client-ses'
import { RecipientLimit } from '../handlers/email/recipient-limit.ts'
import { EmailSender } from '../handlers/email/sender.ts'
import { EmailTemplates } from '../handlers/email/templates.ts'
import { MailRejectedError, MailUnavailableError, NonRetryableError } from '../src/errors.ts'
import type { Mailer } from '../src/mail/mailer.ts'
import { OutboxMailer } from '../src/mail/outbox.ts'
import { SesMailer } from '../src/mail/ses.ts'
import { SmtpMailer } from '../src/mail/smtp.ts'
import { type RunningEmulator, startSesEmulator } from './support/emulators.ts'
import { freePort } from './support/ports.ts'
import { type SmtpTestServer, startSmtpServer } from './support/smtp.ts'
import { TestStack } from './support/stack.ts'

const require = createRequire(import.meta.url)
const { simpleParser } = require('mailparser') as {
  simpleParser(source: string): Promise<{ subject?: string; text?: string; html?: string | false }>
}

let ses: Omit<RunningEmulator, 'requests'>
let smtp: SmtpTestServer
let dir = ''
const opened: Mailer[] = []
before(async () => {
  ses = await startSesEmulator()
  smtp = await startSmtpServer()
  dir = await mkdtemp(join(tmpdir(), 'conveyor-outbox-'))
})
after(async () => {
  for (const m of opened) await m.close()
  await ses.stop()
  await smtp.stop()
  await rm(dir, { recursive: true, force: true })
})

/** What a mailer's provider ended up holding, read back the provider's own way. */
interface Delivered {
  to: string
  from: string
  subject: string
  text: string
  html: string
}

interface MailerBackend {
  open(options?: { maxSendRate?: number }): Mailer
  /** Everything delivered since the last clear(), oldest first. */
  delivered(): Promise<Delivered[]>
  clear(): Promise<void>
  /** What this backend truly does: the outbox writes files at once, with no provider rate to respect. */
  capabilities: { sendRate: boolean }
  /** The same mailer pointed at a provider that is not there (none for the outbox: it has no provider). */
  unreachable?: (port: number) => Mailer
}

function track<M extends Mailer>(mailer: M): M {
  opened.push(mailer)
  return mailer
}

const FROM = 'Conveyor <noreply@example.com>'

const backends: Record<string, MailerBackend> = {
  outbox: {
    open: () => new OutboxMailer(dir, FROM),
    async delivered() {
      const outbox = new OutboxMailer(dir, FROM)
      const entries = (await outbox.list()).reverse()
      return Promise.all(
        entries.map(async (e) => {
          const mime = await simpleParser((await outbox.read(e.id, 'eml'))!)
          return {
            to: e.to.join(','),
            from: FROM,
            subject: e.subject,
            text: mime.text!,
            html: mime.html || '',
          }
        }),
      )
    },
    async clear() {
      await rm(dir, { recursive: true, force: true })
    },
    capabilities: { sendRate: false },
  },
  ses: {
    open: (options = {}) =>
      track(new SesMailer({ client: new SESClient({ endpoint: ses.endpoint }), from: FROM, ...options })),
    async delivered() {
      const store = (await (await fetch(`${ses.endpoint}/store`)).json()) as {
        emails: {
          from: string
          subject: string
          destination: { to: string[] }
          body: { text: string; html: string }
        }[]
      }
      return store.emails.map((m) => ({
        to: m.destination.to.join(','),
        from: m.from,
        subject: m.subject,
        text: m.body.text,
        html: m.body.html,
      }))
    },
    async clear() {
      await fetch(`${ses.endpoint}/clear-store`, { method: 'POST' })
    },
    capabilities: { sendRate: true },
    unreachable: (port) =>
      track(
        new SesMailer({
          client: new SESClient({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 }),
          from: FROM,
        }),
      ),
  },
  smtp: {
    open: (options = {}) => track(new SmtpMailer({ url: smtp.url, from: FROM, ...options })),
    async delivered() {
      return smtp.received.map((m) => ({
        to: m.envelopeTo.join(','),
        from: m.from,
        subject: m.subject,
        text: m.text,
        html: m.html,
      }))
    },
    async clear() {
      smtp.received.length = 0
    },
    capabilities: { sendRate: true },
    unreachable: (port) =>
      track(new SmtpMailer({ url: `smtp://u:p@127.0.0.1:${port}`, from: FROM, retries: 0 })),
  },
}

/** The Mailer contract: every backend passes the same cases. */
function mailerSuite(name: string, backend: MailerBackend): void {
  test(`${name} mailer: delivers subject, sender, recipients and both parts`, async () => {
    await backend.clear()
    const mailer = backend.open()
    const sent = await mailer.send({
      to: ['ada@example.com', 'grace@example.com'],
      subject: 'Your export is ready',
      html: '<p>Download <a href="https://app.example/x">here</a></p>',
      text: 'Download: https://app.example/x',
    })
    assert.ok(sent.messageId)
    const [mail, extra] = await backend.delivered()
    assert.equal(extra, undefined)
    assert.equal(mail?.subject, 'Your export is ready')
    assert.match(mail!.from, /noreply@example\.com/)
    assert.match(mail!.to, /ada@example\.com.*grace@example\.com/)
    assert.equal(mail!.text.trim(), 'Download: https://app.example/x')
    assert.match(mail!.html, /<a href="https:\/\/app\.example\/x">/)
  })

  test(`${name} mailer: the shipped templates arrive rendered, within the per-recipient limit`, async () => {
    await backend.clear()
    const templates = new EmailTemplates({ appUrl: 'https://app.example' })
    const sender = new EmailSender({ mailer: backend.open(), templates, limit: new RecipientLimit(2) })
    const expected = templates.render('welcome', { name: 'Ada <3' })
    await sender.send('welcome', 'ada@example.com', { name: 'Ada <3' })
    await sender.send('welcome', 'ada@example.com', { name: 'Ada <3' })
    await assert.rejects(
      sender.send('welcome', 'ada@example.com', { name: 'Ada <3' }),
      (err: unknown) => err instanceof NonRetryableError && /MAIL_PER_RECIPIENT_PER_HOUR/.test(err.message),
    )
    const delivered = await backend.delivered()
    assert.equal(delivered.length, 2)
    assert.equal(delivered[0]!.subject, expected.subject)
    assert.equal(delivered[0]!.text.trim(), expected.text.trim())
    assert.match(delivered[0]!.html, /Ada &lt;3/)
  })

  if (backend.capabilities.sendRate) {
    test(`${name} mailer: concurrent sends are spaced to the maximum send rate`, async () => {
      await backend.clear()
      const mailer = backend.open({ maxSendRate: 20 })
      const started = performance.now()
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          mailer.send({ to: `u${i}@example.com`, subject: `m${i}`, html: '<p>x</p>', text: 'x' }),
        ),
      )
      const elapsed = performance.now() - started
      // 20/s: the fifth send may not start before 4 × 50 ms after the first.
      assert.ok(elapsed >= 195, `5 sends at 20/s took ${elapsed.toFixed(0)} ms; at least 200 ms expected`)
      assert.equal((await backend.delivered()).length, 5)
    })
  }

  if (backend.unreachable) {
    const unreachable = backend.unreachable
    test(`${name} mailer: an unreachable provider is a retryable MailUnavailableError`, async () => {
      const mailer = unreachable(await freePort())
      await assert.rejects(
        mailer.send({ to: 'ada@example.com', subject: 'x', html: '<p>x</p>', text: 'x' }),
        (err: unknown) => {
          assert.ok(err instanceof MailUnavailableError, String(err))
          assert.ok(!(err instanceof NonRetryableError))
          assert.equal(err.name, 'MailUnavailableError')
          assert.equal(err.code, 'MAIL_UNAVAILABLE')
          return true
        },
      )
    })
  }
}

for (const [name, backend] of Object.entries(backends)) mailerSuite(name, backend)

test('outbox mailer: writes .eml, .html and .json per message and lists newest first', async () => {
  await rm(dir, { recursive: true, force: true })
  const outbox = new OutboxMailer(dir, FROM)
  const first = await outbox.send({ to: 'ada@example.com', subject: 'One', html: '<p>1</p>', text: '1' })
  const second = await outbox.send({ to: 'ada@example.com', subject: 'Two', html: '<p>2</p>', text: '2' })
  const files = await readdir(dir)
  for (const id of [first.messageId, second.messageId]) {
    for (const ext of ['eml', 'html', 'json']) assert.ok(files.includes(`${id}.${ext}`), `${id}.${ext}`)
  }
  assert.deepEqual(
    (await outbox.list()).map((e) => e.subject),
    ['Two', 'One'],
  )
  const eml = await outbox.read(first.messageId, 'eml')
  assert.match(eml!, /^Content-Type: multipart\/alternative/m)
  assert.match(eml!, /^To: ada@example\.com/m)
  assert.equal(await outbox.read('../../etc/passwd', 'eml'), undefined)
})

test('smtp mailer: the session is upgraded with STARTTLS and authenticated', async () => {
  smtp.received.length = 0
  await backends.smtp!.open().send({ to: 'ada@example.com', subject: 'tls', html: '<p>x</p>', text: 'x' })
  const [mail] = await smtp.waitFor(1)
  assert.equal(mail!.secure, true)
  assert.equal(mail!.user, 'conveyor')
})

test('smtp mailer: wrong credentials are a MailRejectedError that is not retried', async () => {
  const url = smtp.url.replace(':s3cret@', ':wrong@')
  const mailer = track(new SmtpMailer({ url, from: FROM }))
  await assert.rejects(
    mailer.send({ to: 'ada@example.com', subject: 'x', html: '<p>x</p>', text: 'x' }),
    (err: unknown) => {
      assert.ok(err instanceof MailRejectedError, String(err))
      assert.ok(err instanceof NonRetryableError)
      assert.equal(err.name, 'MailRejectedError')
      assert.equal(err.code, 'MAIL_REJECTED')
      assert.equal(err.responseCode, 535)
      assert.match(err.message, /refused the credentials in SMTP_URL/)
      return true
    },
  )
})

test('smtp mailer: a relay without STARTTLS is refused unless SMTP_REQUIRE_TLS=false', async () => {
  const plain = await startSmtpServer(undefined, { disabledCommands: ['STARTTLS'], allowInsecureAuth: true })
  try {
    const message = { to: 'ada@example.com', subject: 'plain', html: '<p>x</p>', text: 'x' }
    await assert.rejects(
      track(new SmtpMailer({ url: plain.url, from: FROM })).send(message),
      MailRejectedError,
    )
    assert.equal(plain.received.length, 0)
    await track(new SmtpMailer({ url: plain.url, from: FROM, requireTls: false })).send(message)
    const [mail] = await plain.waitFor(1)
    assert.equal(mail!.secure, false)
  } finally {
    await plain.stop()
  }
})

test('smtp mailer: a connection dropped mid-send is retried on a new one and delivered once', async () => {
  smtp.received.length = 0
  smtp.dropNext(1)
  const mailer = backends.smtp!.open()
  const sent = await mailer.send({ to: 'ada@example.com', subject: 'again', html: '<p>x</p>', text: 'x' })
  assert.ok(sent.messageId)
  assert.deepEqual(
    smtp.received.map((m) => m.subject),
    ['again'],
  )
})

test('smtp mailer: a welcome email with bad SMTP credentials is dead-lettered on its first attempt, with the reason', async (t) => {
  const mailer = track(new SmtpMailer({ url: smtp.url.replace(':s3cret@', ':wrong@'), from: FROM }))
  const stack = await TestStack.start({ mailer })
  t.after(() => stack.close())
  const { id } = await stack.producer.enqueue('email.welcome', { to: 'ada@example.com', name: 'Ada' })
  const outcome = await stack.outcomes!.waitFor(id)
  assert.equal(outcome.outcome, 'dead_letter')
  assert.equal(outcome.attempt, 1, 'not retried')
  assert.ok(outcome.error instanceof MailRejectedError)
  assert.match((outcome.error as Error).message, /refused the credentials in SMTP_URL/)
})
