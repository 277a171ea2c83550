import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SESClient } from '@aws-sdk/client-ses'
import { PubSubQueue } from '../adapters/pubsub/index.ts'
import { SesMailer } from '../src/mail/ses.ts'
import { SmtpMailer } from '../src/mail/smtp.ts'
import { GcsObjectStore } from '../src/storage/gcs-store.ts'
import { testLogger } from './support/async.ts'
import { AwsTestBackend } from './support/aws.ts'
import { startSesEmulator } from './support/emulators.ts'
import { startGcsEmulator } from './support/gcs-emulator.ts'
import { freePort } from './support/ports.ts'
import { pubsubSkipReason, startPubSubEmulator } from './support/pubsub-emulator.ts'
import { startSmtpServer } from './support/smtp.ts'
import { bearer, TestStack } from './support/stack.ts'

// The export workflow through a real listening server and plain HTTP clients (fetch), as a user's
// script or browser would see it: on the embedded defaults, on SQS + S3 + SES emulators, and on a
// GCP-shaped stack (Pub/Sub emulator, Cloud Storage emulator, an SMTP relay).

const auth = { authorization: bearer('erin') }

async function listening(stack: TestStack, port: number): Promise<string> {
  return stack.app.listen({ host: '127.0.0.1', port })
}

/** Requests a CSV export over HTTP, waits for its email, and checks status, download and link. */
async function exportEndToEnd(
  stack: TestStack,
  base: string,
  readLink: () => Promise<string>,
  disposition = /^attachment; filename="activities-.*\.csv"$/,
): Promise<void> {
  const post = await fetch(`${base}/v1/exports`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'activities', format: 'csv', params: { rows: 5000 } }),
  })
  assert.equal(post.status, 202)
  const { id, statusUrl } = (await post.json()) as { id: string; statusUrl: string }
  assert.equal(post.headers.get('location'), `${base}/v1/exports/${id}`)

  await stack.succeeded('email.export-ready', 1, 30_000)
  const status = (await (await fetch(statusUrl, { headers: auth })).json()) as {
    status: string
    rows: number
    bytes: number
    downloadUrl: string
  }
  assert.equal(status.status, 'completed')
  assert.equal(status.rows, 5000)

  const file = await fetch(status.downloadUrl, { headers: auth })
  assert.equal(file.status, 200)
  assert.match(file.headers.get('content-disposition') ?? '', disposition)
  const body = Buffer.from(await file.arrayBuffer())
  assert.equal(body.length, status.bytes)
  assert.equal(body.toString('utf8').split('\r\n').length, 5000 + 2, 'header, rows, final line end')

  const link = await readLink()
  assert.ok(link.startsWith(`${base}/links/exports/`), link)
  const viaLink = await fetch(link) // no Authorization: as from an email client
  assert.equal(viaLink.status, 200)
  assert.deepEqual(Buffer.from(await viaLink.arrayBuffer()), body)

  const list = (await (await fetch(`${base}/v1/exports`, { headers: auth })).json()) as {
    items: { id: string }[]
  }
  assert.deepEqual(
    list.items.map((i) => i.id),
    [id],
  )
  assert.equal((await fetch(`${base}/v1/exports/${id}`, { method: 'DELETE', headers: auth })).status, 204)
  assert.equal((await fetch(statusUrl, { headers: auth })).status, 404)
  assert.equal((await fetch(link)).status, 404, 'a deleted export is gone for its link too')
}

test('e2e: embedded defaults (memory queue, files, outbox) through a listening server', async (t) => {
  const port = await freePort()
  const stack = await TestStack.start({ appUrl: `http://127.0.0.1:${port}` })
  t.after(() => stack.close())
  const base = await listening(stack, port)
  await exportEndToEnd(stack, base, async () => {
    const list = (await (await fetch(`${base}/dev/outbox`)).json()) as {
      items: { html: string; subject: string }[]
    }
    const ready = list.items.find((m) => m.subject === 'Your activities export (CSV) is ready')!
    const html = await (await fetch(`${base}${ready.html}`)).text()
    return /href="([^"]+\/links\/exports\/[^"]+)"/.exec(html)![1]!
  })

  // The HTTP edge cases, over a real socket this time.
  const raw = (body: string, contentType: string) =>
    fetch(`${base}/v1/exports`, { method: 'POST', headers: { ...auth, 'content-type': contentType }, body })
  const badJson = await raw('{"kind":', 'application/json')
  assert.equal(badJson.status, 400)
  assert.match(((await badJson.json()) as { message: string }).message, /not valid JSON/)
  assert.equal((await raw('kind=activities', 'application/x-www-form-urlencoded')).status, 415)
  assert.equal((await raw(JSON.stringify({ kind: 'x'.repeat(2_000_000) }), 'application/json')).status, 413)
  assert.equal((await fetch(`${base}/v1/exports`)).status, 401)
  assert.equal((await fetch(`${base}/healthz`)).status, 200)
  assert.equal((await fetch(`${base}/readyz`)).status, 200)
  assert.match(await (await fetch(`${base}/metrics`)).text(), /conveyor_jobs_enqueued_total/)
  const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> }
  for (const path of [
    '/v1/jobs',
    '/v1/exports',
    '/v1/exports/{id}',
    '/v1/exports/{id}/download',
    '/v1/activities/export.csv',
  ]) {
    assert.ok(openapi.paths[path], `OpenAPI documents ${path}`)
  }
})

test('e2e: SQS + S3 (fauxqs) and SES (aws-ses-v2-local): the emailed link downloads the file', async (t) => {
  const aws = new AwsTestBackend()
  await aws.start()
  const ses = await startSesEmulator()
  const port = await freePort()
  const stack = await TestStack.start({
    queue: aws.createQueue(),
    store: aws.claimStore(),
    mailer: new SesMailer({
      client: new SESClient({ endpoint: ses.endpoint }),
      from: 'Conveyor <noreply@example.com>',
    }),
    appUrl: `http://127.0.0.1:${port}`,
  })
  t.after(async () => {
    await stack.close()
    await ses.stop()
    await aws.stop()
  })
  const base = await listening(stack, port)
  await exportEndToEnd(stack, base, async () => {
    const { emails } = (await (await fetch(`${ses.endpoint}/store`)).json()) as {
      emails: { subject: string; destination: { to: string[] }; body: { html: string; text: string } }[]
    }
    const mail = emails.find((m) => m.subject === 'Your activities export (CSV) is ready')!
    assert.match(mail.destination.to.join(','), /erin@example\.com/)
    const fromHtml = /href="([^"]+\/links\/exports\/[^"]+)"/.exec(mail.body.html)![1]!
    assert.ok(mail.body.text.includes(fromHtml), 'the text part has the same link')
    return fromHtml
  })
  // On S3 the API hands the file over with a redirect to a short-lived presigned URL.
  const res = await fetch(`${base}/v1/exports`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'activities', format: 'csv', params: { rows: 3 } }),
  })
  const { id } = (await res.json()) as { id: string }
  await stack.succeeded('exports.build', 2, 30_000)
  const redirect = await fetch(`${base}/v1/exports/${id}/download`, { headers: auth, redirect: 'manual' })
  assert.equal(redirect.status, 302)
  const location = redirect.headers.get('location')!
  assert.match(location, /X-Amz-Signature=/)
  assert.match(location, /X-Amz-Expires=300/)
})

test('e2e: Pub/Sub (emulator), Cloud Storage (emulator) and SMTP (smtp-server): the emailed link downloads the file', {
  skip: pubsubSkipReason(),
}, async (t) => {
  const pubsub = await startPubSubEmulator()
  const gcs = await startGcsEmulator()
  const smtp = await startSmtpServer()
  const port = await freePort()
  const runId = `e2e${Date.now().toString(36)}`
  const stack = await TestStack.start({
    queue: new PubSubQueue(
      { autoCreate: true, topicPrefix: `${runId}-`, leaseMs: 10_000, relayHoldMs: 20_000, pullWaitMs: 500 },
      {
        logger: testLogger,
        claimStore: new GcsObjectStore({ bucket: 'conveyor-e2e', storage: gcs.storage }),
      },
    ),
    store: new GcsObjectStore({ bucket: 'conveyor-e2e', storage: gcs.storage }),
    mailer: new SmtpMailer({ url: smtp.url, from: 'Conveyor <noreply@example.com>' }),
    appUrl: `http://127.0.0.1:${port}`,
  })
  t.after(async () => {
    await stack.close()
    await stack.mailer.close()
    await smtp.stop()
    await gcs.stop()
    await pubsub.stop()
  })
  const base = await listening(stack, port)
  await exportEndToEnd(
    stack,
    base,
    async () => {
      const mail = smtp.received.find((m) => m.subject === 'Your activities export (CSV) is ready')!
      assert.deepEqual(mail.envelopeTo, ['erin@example.com'])
      assert.equal(mail.secure, true, 'sent over STARTTLS')
      const fromHtml = /href="([^"]+\/links\/exports\/[^"]+)"/.exec(mail.html)![1]!
      assert.ok(mail.text.includes(fromHtml), 'the text part has the same link')
      return fromHtml
      // The firebase-tools emulator appends its own `filename*=<object name>` to the requested disposition.
    },
    /^attachment; filename="activities-.*\.csv"(; filename\*=[^;]+\.csv)?$/,
  )
  // On GCS the API hands the file over with a redirect to a short-lived V4-signed URL.
  const res = await fetch(`${base}/v1/exports`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'activities', format: 'csv', params: { rows: 3 } }),
  })
  const { id } = (await res.json()) as { id: string }
  await stack.succeeded('exports.build', 2, 30_000)
  const redirect = await fetch(`${base}/v1/exports/${id}/download`, { headers: auth, redirect: 'manual' })
  assert.equal(redirect.status, 302)
  const location = redirect.headers.get('location')!
  assert.match(location, /X-Goog-Algorithm=GOOG4-RSA-SHA256/)
  assert.match(location, /X-Goog-Expires=300/)
  assert.equal((await fetch(location)).status, 200)
  assert.equal((await fetch(`${base}/readyz`)).status, 200)
})
