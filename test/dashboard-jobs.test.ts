import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createSigner } from 'fast-jwt'
import type { Page } from 'playwright-core'
import Type from 'typebox'
import { ManualClock } from '../src/clock.ts'
import { defineJob } from '../src/job.ts'
import { deferred } from './support/async.ts'
import { launchBrowser, screenshot } from './support/browser.ts'
import { SECRET, TestStack } from './support/stack.ts'

// The dashboard's Jobs section (the job ledger), run in Debian's Chromium against a listening TestStack
// with the memory queue and the memory job store. Screenshots go to test-output/screenshots/.

const adminToken = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 600_000 })({
  sub: 'ops',
  role: 'admin',
})

/** Builds a "report": reports progress, returns a result with text that must show as text, not markup. */
const buildReport = defineJob({
  type: 'report.build',
  queue: 'reports',
  schema: Type.Object({ title: Type.String() }),
  maxAttempts: 3,
  async handle({ title }, ctx) {
    await ctx.progress(100, 'wrote 3 pages')
    return { title, pages: 3, note: '<b>bold</b> stays text' }
  },
})

/** Reports 40% and then works until its signal aborts (a cancel). */
function slowReport(started: () => void) {
  return defineJob({
    type: 'report.slow',
    queue: 'reports',
    schema: Type.Object({}),
    timeoutMs: 60_000,
    async handle(_payload, ctx) {
      const { signal } = ctx
      await ctx.progress(40, 'rendering page 2 of 5')
      started()
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    },
  })
}

async function signIn(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/dashboard`)
  await page.fill('#token', adminToken)
  await page.click('#auth button[type=submit]')
}

const countCell = (page: Page, queue: string, status: string) =>
  page.locator(`#job-counts tr[data-counts-queue="${queue}"] td[data-status="${status}"]`)

/** Waits until the count cell reads `text` (the page polls every 5 s; actions reload at once). */
async function countIs(page: Page, queue: string, status: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([q, s, t]) =>
      document.querySelector(`#job-counts tr[data-counts-queue="${q}"] td[data-status="${s}"]`)
        ?.textContent === t,
    [queue, status, text] as const,
  )
}

const text = (page: Page, selector: string) => page.locator(selector).innerText()

test('dashboard jobs: counts by status per queue, a count filters the list, pages go older and back, a job page shows progress and its result as text', async (t) => {
  const { newPage } = await launchBrowser(t) // first, so it closes before the server
  const running = deferred<void>()
  const stack = await TestStack.start({
    jobStore: true,
    jobs: [buildReport, slowReport(() => running.resolve())],
    leaseMs: 600, // cancel polling every 100 ms
  })
  t.after(() => stack.close())
  const built: string[] = []
  for (let i = 1; i <= 22; i++)
    built.push((await stack.producer.enqueue('report.build', { title: `Report ${i}` })).id)
  await Promise.all(built.map((id) => stack.outcomes!.waitFor(id, 'success')))
  const welcome = await stack.producer.enqueue('email.welcome', { to: 'ada@example.com', name: 'Ada' })
  await stack.outcomes!.waitFor(welcome.id, 'success')
  await stack.producer.enqueue('demo.greet', { name: 'Later' }, { delayMs: 3_600_000 })
  const slow = await stack.producer.enqueue('report.slow', {})
  await running.promise
  const base = await stack.app.listen({ host: '127.0.0.1', port: 0 })
  const page = await newPage()

  await signIn(page, base)
  await countCell(page, 'reports', 'succeeded').waitFor()
  assert.equal(await countCell(page, 'reports', 'succeeded').innerText(), '22')
  assert.equal(await countCell(page, 'reports', 'running').innerText(), '1')
  assert.equal(await countCell(page, 'reports', 'failed').innerText(), '0')
  assert.equal(await countCell(page, 'emails', 'succeeded').innerText(), '1')
  assert.equal(await countCell(page, 'default', 'delayed').innerText(), '1')
  assert.equal(await countCell(page, '', 'all').innerText(), '25')
  assert.equal(await page.locator('#jobs-none').isHidden(), true)

  // The list: newest first, 20 a page; "Older" goes on, "Newer" comes back.
  const rows = page.locator('#jobs-list tbody tr.job')
  assert.equal(await rows.count(), 20)
  assert.equal(await rows.first().getAttribute('data-id'), slow.id)
  assert.match(await rows.first().innerText(), /report\.slow[\s\S]*running[\s\S]*40% rendering page 2 of 5/)
  assert.match(await text(page, '#jobs-page'), /^page 1/)
  assert.equal(await page.locator('#jobs-newer').isDisabled(), true)
  await screenshot(page, 'dashboard-jobs-list')
  await page.click('#jobs-older')
  await page.locator('#jobs-page', { hasText: 'page 2' }).waitFor()
  assert.equal(await rows.count(), 5)
  assert.equal(await rows.last().getAttribute('data-id'), built[0])
  assert.equal(await page.locator('#jobs-older').isDisabled(), true)
  await page.click('#jobs-newer')
  await page.locator('#jobs-page', { hasText: 'page 1' }).waitFor()
  assert.equal(await rows.count(), 20)

  // A count filters the list by its queue and status.
  await countCell(page, 'emails', 'succeeded').getByRole('button').click()
  await page.waitForFunction(() => document.querySelectorAll('#jobs-list tbody tr.job').length === 1)
  assert.equal(await rows.first().getAttribute('data-id'), welcome.id)
  assert.equal(await page.locator('#filter-queue').inputValue(), 'emails')
  assert.equal(await page.locator('#filter-status').inputValue(), 'succeeded')
  assert.match((await countCell(page, 'emails', 'succeeded').getAttribute('class')) ?? '', /active/)
  // The type filter too (exact type), with the queue cleared.
  await page.selectOption('#filter-queue', '')
  await page.selectOption('#filter-status', '')
  await page.fill('#filter-type', 'report.build')
  await page.press('#filter-type', 'Enter')
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#jobs-list tbody tr.job')].every(
      (tr) => tr.querySelector('a')?.textContent === 'report.build',
    ),
  )
  assert.equal(await rows.count(), 20)
  // A filter the API refuses says why, and the counts stay.
  await page.fill('#filter-type', 'x'.repeat(201))
  await page.press('#filter-type', 'Enter')
  await page.locator('#jobs-list td', { hasText: 'The filter was refused:' }).waitFor()
  assert.match(await text(page, '#jobs-list tbody'), /type must NOT have more than 200 characters/)
  assert.equal(await countCell(page, 'reports', 'succeeded').innerText(), '22')
  await page.fill('#filter-type', 'report.build')
  await page.press('#filter-type', 'Enter')
  await page.waitForFunction(() => document.querySelectorAll('#jobs-list tbody tr.job').length === 20)

  // A job's page: attempts, times, progress, the result as a JSON block (markup in it stays text).
  await page.click(`#jobs-list tr[data-id="${built[21]}"] a`)
  await page.locator('#job-view').waitFor()
  assert.ok(page.url().endsWith(`#job=${built[21]}`), page.url())
  assert.equal(await text(page, '#job-type'), 'report.build')
  assert.equal(await text(page, '#job-status'), 'succeeded')
  const facts = await text(page, '#job-facts')
  assert.match(facts, /attempts\s+1 of 3/i)
  assert.match(facts, /created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/i)
  assert.match(facts, /finished\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC took /i)
  assert.match(await text(page, '#job-progress'), /100%\s+wrote 3 pages/)
  const result = JSON.parse(await text(page, '#job-result'))
  assert.deepEqual(result, { title: 'Report 22', pages: 3, note: '<b>bold</b> stays text' })
  assert.equal(await page.locator('#job-result b').count(), 0, 'the result is text, not markup')
  assert.match(await text(page, '#job-payload'), /Not kept by the job ledger/)
  assert.equal(await page.locator('#job-error-block').isHidden(), true)
  assert.equal(await page.locator('#job-cancel').isHidden(), true)
  assert.equal(await page.locator('#job-retry').isHidden(), true)
  await screenshot(page, 'dashboard-job-succeeded')

  // Back to the list, with the filter kept; then the running job, which can be cancelled while it runs.
  await page.click('#job-back')
  await page.locator('#jobs-list-view').waitFor()
  assert.equal(await page.locator('#filter-type').inputValue(), 'report.build')
  await page.goto(`${base}/dashboard#job=${slow.id}`)
  await page.locator('#job-status', { hasText: 'running' }).waitFor()
  assert.match(await text(page, '#job-progress'), /40%\s+rendering page 2 of 5/)
  assert.equal(await page.locator('#job-result-block').isHidden(), true)
  await screenshot(page, 'dashboard-job-running')
  await page.click('#job-cancel')
  assert.match(await text(page, '#confirm'), /It is running: its worker aborts it/)
  await page.click('#confirm-ok')
  await page.locator('#job-outcome', { hasText: 'Cancel requested' }).waitFor()
  await stack.outcomes!.waitFor(slow.id, 'cancelled')
  await page.locator('#job-status', { hasText: 'cancelled' }).waitFor()
  await countIs(page, 'reports', 'cancelled', '1')
  assert.equal(await countCell(page, 'reports', 'running').innerText(), '0')
})

test('dashboard jobs: cancel a delayed job from its page after a confirmation; it becomes cancelled and the counts change', async (t) => {
  const { newPage } = await launchBrowser(t)
  const stack = await TestStack.start({ jobStore: true })
  t.after(() => stack.close())
  const later = await stack.producer.enqueue('demo.greet', { name: 'Later' }, { delayMs: 3_600_000 })
  const base = await stack.app.listen({ host: '127.0.0.1', port: 0 })
  const page = await newPage()

  await signIn(page, base)
  await countCell(page, 'default', 'delayed').getByRole('button').click()
  await page.waitForFunction(() => document.querySelectorAll('#jobs-list tbody tr.job').length === 1)
  assert.match(await text(page, '#jobs-list tbody tr.job'), /demo\.greet[\s\S]*delayed[\s\S]*runs in 60 min/)
  await page.click(`#jobs-list tr[data-id="${later.id}"]`)
  await page.locator('#job-status', { hasText: 'delayed' }).waitFor()
  assert.match(await text(page, '#job-facts'), /run at\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC in 60 min/i)
  assert.equal(await page.locator('#job-retry').isHidden(), true)

  // Asking first: keeping it changes nothing.
  await page.click('#job-cancel')
  const dialog = page.locator('#confirm')
  assert.match(
    await dialog.innerText(),
    new RegExp(`Cancel job ${later.id} \\(demo\\.greet\\)\\? It has not started: it will never run\\.`),
  )
  await screenshot(page, 'dashboard-job-cancel-confirm')
  await page.getByRole('button', { name: 'Keep it' }).click()
  await dialog.waitFor({ state: 'hidden' })
  assert.equal((await stack.ledger!.store.get(later.id))?.status, 'delayed')

  await page.click('#job-cancel')
  await page.click('#confirm-ok')
  await page.locator('#job-outcome', { hasText: `Cancelled: job ${later.id} will not run.` }).waitFor()
  await page.locator('#job-status', { hasText: 'cancelled' }).waitFor()
  assert.equal(await page.locator('#job-cancel').isHidden(), true)
  assert.equal((await stack.ledger!.store.get(later.id))?.status, 'cancelled')
  await countIs(page, 'default', 'cancelled', '1')
  assert.equal(await countCell(page, 'default', 'delayed').innerText(), '0')
  await screenshot(page, 'dashboard-job-cancelled')

  // An id with no record says so, instead of showing the last job.
  await page.goto(`${base}/dashboard#job=no-such-job`)
  await page.locator('#job-missing', { hasText: 'There is no record of job no-such-job' }).waitFor()
  assert.equal(await page.locator('#job-body').isHidden(), true)
  assert.equal(await page.locator('#job-status').isHidden(), true)
})

test('dashboard jobs: a failed (dead-lettered) job shows its error and its payload from the dead letter; retry runs it again', async (t) => {
  const { newPage } = await launchBrowser(t)
  const clock = new ManualClock(Date.now())
  const stack = await TestStack.start({ jobStore: true, clock, handlers: { emailsPerRecipientPerHour: 1 } })
  t.after(() => stack.close())
  const to = 'demo@example.com'
  await stack.producer.enqueue('email.welcome', { to, name: 'Demo' })
  await stack.succeeded('email.welcome')
  const again = await stack.producer.enqueue('email.welcome', { to, name: 'Demo again' })
  await stack.outcomes!.waitFor(again.id, 'dead_letter')
  const base = await stack.app.listen({ host: '127.0.0.1', port: 0 })
  const page = await newPage()

  await signIn(page, base)
  await countCell(page, 'emails', 'failed').getByRole('button').click()
  await page.waitForFunction(() => document.querySelectorAll('#jobs-list tbody tr.job').length === 1)
  assert.match(await text(page, '#jobs-list tbody tr.job'), /email\.welcome[\s\S]*failed[\s\S]*non retryable/)
  await page.click(`#jobs-list tr[data-id="${again.id}"] a`)
  await page.locator('#job-status', { hasText: 'failed' }).waitFor()
  assert.equal(await text(page, '#job-error-code'), 'non retryable')
  assert.match(await text(page, '#job-error-message'), /demo@example\.com has already received 1 email/)
  // The ledger keeps no payload; the dead letter does, and the page says where it came from.
  assert.ok((await text(page, '#job-payload pre')).split('\n').includes('  "to": "demo@example.com",'))
  assert.match(await text(page, '#job-payload'), /From its dead letter in emails/)
  assert.equal(await page.locator('#job-cancel').isHidden(), true)
  await screenshot(page, 'dashboard-job-failed')

  // An hour later the recipient may get mail again: the retry sends it.
  clock.advance(3_600_001)
  await page.click('#job-retry')
  assert.match(await text(page, '#confirm'), /Run failed job .* \(email\.welcome\) again\?/)
  await page.click('#confirm-ok')
  await page.locator('#job-outcome', { hasText: `Retrying: job ${again.id} runs again` }).waitFor()
  assert.match(
    await text(page, '#job-outcome'),
    /^Retrying: job \S+ runs again \(its dead letter went back to emails; it is (queued|running|succeeded) now\)\.$/,
  )
  await stack.outcomes!.waitFor(again.id, 'success')
  await page.locator('#job-status', { hasText: 'succeeded' }).waitFor()
  assert.match(await text(page, '#job-facts'), /attempts\s+1 of 5/i)
  assert.equal(await page.locator('#job-error-block').isHidden(), true)
  assert.equal(await page.locator('#job-retry').isHidden(), true)
  assert.equal((await stack.outbox!.list()).length, 2)
  await page.click('#job-back')
  await countIs(page, 'emails', 'succeeded', '2')
  assert.equal(await countCell(page, 'emails', 'failed').innerText(), '0')
  await screenshot(page, 'dashboard-job-retried-list')
})
