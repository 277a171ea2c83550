import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { SESClient } from '@aws-sdk/client-ses'
import { OutboxMailer } from '../src/mail/outbox.ts'
import { SesMailer } from '../src/mail/ses.ts'
import { type RunningEmulator, startSesEmulator } from './support/emulators.ts'

let ses: Omit<RunningEmulator, 'requests'>
let dir = ''
before(async () => {
  ses = await startSesEmulator()
  dir = await mkdtemp(join(tmpdir(), 'conveyor-outbox-'))
})
after(async () => {
  await ses.stop()
  await rm(dir, { recursive: true, force: true })
})

interface StoredEmail {
  from: string
  subject: string
  destination: { to: string[] }
  body: { text: string; html: string }
}

async function sesStore(): Promise<StoredEmail[]> {
  return ((await (await fetch(`${ses.endpoint}/store`)).json()) as { emails: StoredEmail[] }).emails
}

test('mail: SES receives both parts, every recipient and the sender via SendRawEmail', async () => {
  await fetch(`${ses.endpoint}/clear-store`, { method: 'POST' })
  const mailer = new SesMailer({
    client: new SESClient({ endpoint: ses.endpoint }),
    from: 'Conveyor <noreply@example.com>',
  })
  const sent = await mailer.send({
    to: ['ada@example.com', 'grace@example.com'],
    subject: 'Your export is ready',
    html: '<p>Download <a href="https://app.example/x">here</a></p>',
    text: 'Download: https://app.example/x',
  })
  assert.ok(sent.messageId)
  const [mail] = await sesStore()
  assert.equal(mail?.subject, 'Your export is ready')
  assert.match(mail!.from, /noreply@example\.com/)
  // The emulator keeps the To: header whole (one string for several addresses).
  assert.match(mail!.destination.to.join(','), /ada@example\.com.*grace@example\.com/)
  assert.equal(mail!.body.text, 'Download: https://app.example/x')
  assert.match(mail!.body.html, /<a href="https:\/\/app\.example\/x">/)
})

test('mail: SES sends are spaced to the configured maximum send rate', async () => {
  await fetch(`${ses.endpoint}/clear-store`, { method: 'POST' })
  const client = new SESClient({ endpoint: ses.endpoint })
  const sentAt: number[] = []
  client.middlewareStack.add(
    (next) => async (args) => {
      sentAt.push(performance.now())
      return next(args)
    },
    { step: 'initialize' },
  )
  const mailer = new SesMailer({ client, from: 'noreply@example.com', maxSendRate: 20 })
  await Promise.all(
    Array.from({ length: 5 }, (_, i) =>
      mailer.send({ to: `u${i}@example.com`, subject: `m${i}`, html: '<p>x</p>', text: 'x' }),
    ),
  )
  assert.equal((await sesStore()).length, 5)
  sentAt.sort((a, b) => a - b)
  for (let i = 1; i < sentAt.length; i++) {
    assert.ok(
      sentAt[i]! - sentAt[i - 1]! >= 45,
      `gap ${sentAt[i]! - sentAt[i - 1]!} ms; 20/s means 50 ms apart`,
    )
  }
})

test('mail: the outbox writes .eml, .html and .json per message and lists newest first', async () => {
  const outbox = new OutboxMailer(dir, 'Conveyor <noreply@example.com>')
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
