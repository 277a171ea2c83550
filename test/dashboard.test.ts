import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createSigner } from 'fast-jwt'
import type { Page } from 'playwright-core'
import { ManualClock } from '../src/clock.ts'
import { launchBrowser, screenshot } from './support/browser.ts'
import { bearer, SECRET, TestStack } from './support/stack.ts'

// The dashboard's JavaScript, run in Debian's Chromium against a listening TestStack. Screenshots go
// to test-output/screenshots/ for a person to look at; nothing compares pixels.

const adminToken = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 600_000 })({
  sub: 'ops',
  role: 'admin',
})

/**
 * A stack whose emails queue holds two dead letters: a welcome email over the per-recipient limit
 * (non_retryable; it succeeds when redriven an hour later) and a body that is not an envelope.
 */
async function stackWithDeadLetters() {
  const clock = new ManualClock(Date.now())
  const stack = await TestStack.start({ clock, handlers: { emailsPerRecipientPerHour: 1 } })
  const to = 'demo@example.com'
  await stack.producer.enqueue('email.welcome', { to, name: 'Demo' })
  await stack.succeeded('email.welcome')
  await stack.producer.enqueue('email.welcome', { to, name: 'Demo again' })
  await stack.outcomes!.waitUntil((e) => e.outcome === 'dead_letter', 'the second welcome dead-lettered')
  await (stack.queue as unknown as { sendRaw(q: string, b: string): Promise<void> }).sendRaw(
    'emails',
    'not json',
  )
  await stack.outcomes!.waitUntil((e) => e.deadLetterCode === 'malformed', 'the poison dead-lettered')
  return { stack, clock }
}

const cellText = (page: Page, selector: string) => page.locator(selector).innerText()

async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/dashboard`)
  await page.fill('#token', token)
  await page.click('#auth button[type=submit]')
}

test('dashboard: sign in, see queue counts, dead letters with the reason once and a readable payload, redrive one with confirmation, counts change', async (t) => {
  const { newPage } = await launchBrowser(t) // first, so it closes before the server (which waits for its connections)
  const { stack, clock } = await stackWithDeadLetters()
  t.after(() => stack.close())
  const base = await stack.app.listen({ host: '127.0.0.1', port: 0 })
  const page = await newPage()

  await signIn(page, base, adminToken)
  const emailsDead = 'tr[data-queue="emails"] td:nth-child(5)'
  await page.locator(emailsDead).waitFor()
  assert.equal(await cellText(page, emailsDead), '2')
  assert.equal(await cellText(page, 'tr[data-queue="exports"] td:nth-child(5)'), '0')
  assert.equal(await cellText(page, '#driver'), 'memory queue')
  // This stack has no job store: the Jobs section says so instead of failing.
  assert.match(await cellText(page, '#jobs-none'), /no job store \(JOB_STORE\)/)
  assert.equal(await page.locator('#jobs-ledger').isHidden(), true)
  // Throughput from the admin endpoint: one welcome sent, two dead letters, this minute.
  assert.match(await cellText(page, '[data-series="completed"]'), /completed 1$/)
  assert.match(await cellText(page, '[data-series="deadLettered"]'), /dead-lettered 2$/)
  assert.ok((await page.locator('#throughput svg rect').count()) >= 2, 'bars for this minute')
  // Schedules with their next run.
  const schedule = await cellText(page, '#schedules tbody tr:has-text("exports-cleanup")')
  assert.match(
    schedule,
    /exports-cleanup\s+17 \* \* \* \*\s+exports\.cleanup\s+\d{4}-\d\d-\d\d \d\d:17:00 UTC \(in /,
  )
  await screenshot(page, 'dashboard-signed-in')

  await page.click('tr[data-queue="emails"]')
  await page.locator('#letters tbody tr').nth(1).waitFor()
  assert.equal(await cellText(page, '#letters-title'), 'Dead letters in emails (2)')
  const limited = page.locator('#letters tbody tr', { hasText: 'email.welcome' })
  const why = await limited.locator('td:nth-child(2)').innerText()
  assert.equal(
    why.match(/already received 1 email in the last hour/g)?.length,
    1,
    `the reason once, not repeated: ${why}`,
  )
  assert.match(
    why,
    /^non retryable\s+recipient demo@example\.com has already received .* \(NonRetryableError\)$/,
  )
  // The payload keeps its lines: the address is never broken across lines.
  const payload = limited.locator('pre.payload')
  assert.equal(await payload.evaluate((e) => getComputedStyle(e).whiteSpace), 'pre')
  assert.ok((await payload.innerText()).split('\n').includes('  "to": "demo@example.com",'))
  await screenshot(page, 'dashboard-dead-letters')

  // Redrive asks first; cancelling moves nothing.
  await limited.getByRole('button', { name: 'Redrive…' }).click()
  const dialog = page.locator('#confirm')
  await dialog.waitFor()
  assert.match(
    await dialog.innerText(),
    /Move dead letter .* \(email\.welcome\) back to emails with fresh attempts\?/,
  )
  await screenshot(page, 'dashboard-redrive-confirm')
  await page.click('#confirm-cancel')
  await dialog.waitFor({ state: 'hidden' })
  assert.equal((await stack.queue.stats('emails')).deadLettered, 2)

  // An hour later the recipient may get mail again: redriving the welcome email sends it.
  clock.advance(3_600_001)
  await limited.getByRole('button', { name: 'Redrive…' }).click()
  await page.click('#confirm-ok')
  await page.locator('#notice', { hasText: 'Moved 1 dead letter back to emails.' }).waitFor()
  await stack.succeeded('email.welcome', 2)
  await page.click('tr[data-queue="emails"]') // reloads now rather than at the next 5 s poll
  await page.waitForFunction(
    () => document.querySelector('tr[data-queue="emails"] td:nth-child(5)')?.textContent === '1',
  )
  await page.waitForFunction(() => document.querySelectorAll('#letters tbody tr').length === 1)
  assert.equal((await stack.outbox!.list()).length, 2)
  await page.waitForFunction(() =>
    document.querySelector('[data-series="completed"]')?.textContent?.endsWith('completed 2'),
  )
  await screenshot(page, 'dashboard-after-redrive')

  // Redrive all names how many, and the poison comes back (it is still not an envelope).
  await page.click('#redrive-all')
  assert.match(await dialog.innerText(), /Move the 1 dead letter in emails back to the queue/)
  assert.equal(await cellText(page, '#notice'), '', 'the last result is cleared while asking')
  await page.click('#confirm-ok')
  await page.locator('#notice', { hasText: 'Moved 1 dead letter back to emails.' }).waitFor()
})

test('dashboard: a token in the URL fragment signs in, never reaches the server, and leaves the address bar', async (t) => {
  const { newPage } = await launchBrowser(t)
  const stack = await TestStack.start()
  t.after(() => stack.close())
  const seen: string[] = []
  stack.app.addHook('onRequest', async (request) => {
    seen.push(request.url)
  })
  const base = await stack.app.listen({ host: '127.0.0.1', port: 0 })
  const page = await newPage()

  await page.goto(`${base}/dashboard#token=${adminToken}`)
  await page.locator('tr[data-queue="emails"]').waitFor()
  assert.equal(page.url(), `${base}/dashboard`)
  assert.ok(seen.includes('/dashboard') && seen.includes('/v1/admin/queues'), seen.join(' '))
  assert.ok(!seen.some((url) => url.includes(adminToken)), 'no request URL carried the token')
  // It stays signed in on reload (the tab's sessionStorage), still without the token in the URL.
  await page.reload()
  await page.locator('tr[data-queue="emails"]').waitFor()
  assert.equal(page.url(), `${base}/dashboard`)
})

test('dashboard: a refused token clears the page instead of leaving the last data on it', async (t) => {
  const { newPage } = await launchBrowser(t)
  const { stack } = await stackWithDeadLetters()
  t.after(() => stack.close())
  const base = await stack.app.listen({ host: '127.0.0.1', port: 0 })
  const page = await newPage()

  await signIn(page, base, adminToken)
  await page.click('tr[data-queue="emails"]')
  await page.locator('#letters tbody tr').nth(1).waitFor()

  const wrongSecret = createSigner({ key: `${SECRET}-not`, algorithm: 'HS256' })({
    sub: 'ops',
    role: 'admin',
  })
  await page.fill('#token', wrongSecret)
  await page.click('#auth button[type=submit]')
  await page.locator('#error', { hasText: 'The token was refused' }).waitFor()
  assert.equal(await page.locator('#app').isHidden(), true)
  assert.equal(await page.locator('#queues tbody tr, #letters tbody tr, #schedules tbody tr').count(), 0)
  assert.equal(await page.evaluate(() => sessionStorage.getItem('conveyor-admin-token')), null)
  await screenshot(page, 'dashboard-refused-token')

  // A valid token without the admin role is refused the same way, also when it comes in the fragment.
  await page.goto(`${base}/dashboard#token=${bearer('ops').slice('Bearer '.length)}`)
  await page.locator('#error', { hasText: 'The token was refused' }).waitFor()
  assert.match(await cellText(page, '#error'), /role "admin"/)
  assert.equal(await page.locator('#app').isHidden(), true)
})
