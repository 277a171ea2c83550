import assert from 'node:assert/strict'
import { test } from 'node:test'
import { wantsHtml } from '../src/service/http/routes/dev-outbox.ts'
import { launchBrowser, screenshot } from './support/browser.ts'
import { freePort } from './support/ports.ts'
import { bearer, TestStack } from './support/stack.ts'

/** The three kinds of email, sent through the worker into the outbox of a stack that can listen on `port`. */
async function stackWithEmails(port: number) {
  const stack = await TestStack.start({ appUrl: `http://127.0.0.1:${port}` })
  await stack.producer.enqueue('email.welcome', { to: 'ada@example.com', name: 'Ada <b>' })
  await stack.producer.enqueue('email.weekly-summary', {
    to: 'ada@example.com',
    name: 'Ada',
    owner: 'ada',
    weekStart: '2026-11-09',
  })
  const res = await stack.app.inject({
    method: 'POST',
    url: '/v1/exports',
    headers: { authorization: bearer('alice') },
    payload: { kind: 'activities', format: 'pdf', params: { rows: 40 } },
  })
  assert.equal(res.statusCode, 202)
  await stack.succeeded('email.export-ready')
  await stack.succeeded('email.welcome')
  await stack.succeeded('email.weekly-summary')
  return stack
}

test('dev outbox: JSON unless the client asks for HTML, as a browser does', async (t) => {
  assert.equal(wantsHtml('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), true)
  assert.equal(wantsHtml('application/json'), false)
  assert.equal(wantsHtml('application/json, text/html'), false)
  assert.equal(wantsHtml('*/*'), false)
  assert.equal(wantsHtml(undefined), false)

  const stack = await stackWithEmails(3000)
  t.after(() => stack.close())
  const json = await stack.app.inject({ method: 'GET', url: '/dev/outbox' })
  assert.match(String(json.headers['content-type']), /^application\/json/)
  const items = (json.json() as { items: { subject: string; to: string[]; html: string; eml: string }[] })
    .items
  assert.deepEqual(items.map((m) => m.subject).sort(), [
    'Welcome to Conveyor, Ada <b>',
    'Your activities export (PDF) is ready',
    'Your week: 7 activities',
  ])
  const html = await stack.app.inject({ method: 'GET', url: '/dev/outbox', headers: { accept: 'text/html' } })
  assert.match(String(html.headers['content-type']), /^text\/html/)
  assert.match(String(html.headers.vary), /accept/)
  assert.match(html.body, /Welcome to Conveyor, Ada &#60;b&#62;/, 'subjects are escaped')
  assert.doesNotMatch(html.body, /Ada <b>/)
  for (const m of items) {
    assert.ok(html.body.includes(`<a href="${m.html}">HTML</a>`), m.html)
    assert.ok(html.body.includes(`<a href="${m.eml}">raw</a>`), m.eml)
  }
  assert.equal((html.body.match(/<td>ada@example\.com<\/td>/g) ?? []).length, 2)
  assert.equal((html.body.match(/<td>alice@example\.com<\/td>/g) ?? []).length, 1)
})

test('emails in a browser: the outbox list, each HTML part rendered (screenshots), the welcome button opens a page; the text parts are kept', async (t) => {
  // The browser closes first (hooks run in the order they were added): the server's close waits for its connections.
  const { newPage } = await launchBrowser(t)
  const port = await freePort()
  const stack = await stackWithEmails(port)
  t.after(() => stack.close())
  const base = await stack.app.listen({ host: '127.0.0.1', port })
  const page = await newPage()

  await page.goto(`${base}/dev/outbox`)
  assert.equal(await page.locator('tbody tr').count(), 3)
  assert.match(await page.locator('h1').innerText(), /^Outbox$/)
  await screenshot(page, 'outbox')

  const shots = [
    {
      subject: 'Your activities export (PDF) is ready',
      name: 'email-export-ready',
      heading: 'Your activities export is ready',
    },
    { subject: 'Welcome to Conveyor, Ada <b>', name: 'email-welcome', heading: 'Welcome, Ada <b>!' },
    { subject: 'Your week: 7 activities', name: 'email-weekly-summary', heading: 'Your week, Ada' },
  ]
  for (const shot of shots) {
    await page.goto(`${base}/dev/outbox`)
    await page.getByRole('link', { name: shot.subject }).click()
    await page.locator('h1').waitFor()
    assert.equal(await page.locator('h1').innerText(), shot.heading)
    assert.equal(await page.title(), shot.subject)
    // The footer names the product, as a link, not a bare address.
    const footer = page.locator('td', { hasText: 'You get this email because' }).last()
    assert.equal(await footer.innerText(), 'You get this email because you have an account with Conveyor.')
    await screenshot(page, shot.name)
    if (shot.name === 'email-welcome') {
      const [response] = await Promise.all([
        page.waitForEvent('response', (r) => r.url() === `${base}/`),
        page.getByRole('link', { name: 'Open Conveyor' }).click(),
      ])
      assert.equal(response.status(), 200)
      assert.match(response.headers()['content-type'] ?? '', /^text\/html/)
      await page.locator('h1', { hasText: 'Conveyor' }).waitFor()
      await screenshot(page, 'home')
    }
  }

  // Each email keeps its plain-text alternative next to the HTML.
  for (const entry of await stack.outbox!.list()) {
    const eml = (await stack.outbox!.read(entry.id, 'eml'))!
    assert.match(eml, /multipart\/alternative/)
    assert.match(eml, /Content-Type: text\/plain; charset=utf-8/)
    assert.match(eml, /Content-Type: text\/html; charset=utf-8/)
  }
})
