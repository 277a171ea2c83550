import assert from 'node:assert/strict'
import { buffer } from 'node:stream/consumers'
import { test } from 'node:test'
import Papa from 'papaparse'
import { MemoryJobStore } from '../adapters/memory/index.ts'
import { RecipientLimit } from '../handlers/email/recipient-limit.ts'
import { EmailSender } from '../handlers/email/sender.ts'
import { EmailTemplates, midSentence } from '../handlers/email/templates.ts'
import { activitiesKind, activityRow } from '../handlers/exports/activities.ts'
import { csvExport } from '../handlers/exports/csv.ts'
import { renderPdfInThread } from '../handlers/exports/pdf-thread.ts'
import { ManualClock } from '../src/clock.ts'
import { bearer, TestStack } from './support/stack.ts'

async function* rowsOf(rows: unknown[][]) {
  yield* rows
}

test('csv: formula-looking text cells get a leading quote (also before a line break); numbers and plain text do not', async () => {
  const cells = [
    '=1+2',
    '+SUM(A1)',
    '-2+3',
    '@cmd',
    '\tx',
    '\r=1',
    '=1\n+2',
    'plain',
    'a "quote", and comma',
    '',
  ]
  const csv = csvExport([{ header: 'cell' }, { header: 'n' }], rowsOf(cells.map((c) => [c, -5])))
  const out = (await buffer(csv.stream)).toString('utf8')
  assert.equal(csv.rows, cells.length)
  assert.ok(out.startsWith('\uFEFFcell,n\r\n'))
  const parsed = Papa.parse<string[]>(out.slice(1), { skipEmptyLines: true }).data.slice(1)
  assert.deepEqual(
    parsed.map((r) => r[0]),
    ["'=1+2", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "'\r=1", "'=1\n+2", 'plain', 'a "quote", and comma', ''],
  )
  for (const row of parsed) assert.equal(row[1], '-5', 'numbers are data, not formulas')
})

test('csv: the stream is pulled, not pushed: rows are produced only as the reader asks', async () => {
  let produced = 0
  async function* endless() {
    for (;;) {
      produced++
      yield [produced, 'row']
    }
  }
  const csv = csvExport([{ header: 'i' }, { header: 'x' }], endless(), { chunkRows: 100 })
  const reader = csv.stream[Symbol.asyncIterator]()
  await reader.next()
  await reader.next()
  await reader.next()
  await reader.return?.()
  // Readable.from reads ahead by at most its highWaterMark (16 KiB here): a few chunks, never the whole source.
  assert.ok(produced < 100 * 40, `produced ${produced} rows for three chunks read`)
})

test('activities: deterministic per owner and params, spread over the period, stops when aborted', async () => {
  const collect = async (owner: string, params: object, signal = new AbortController().signal) => {
    const rows: (readonly unknown[])[] = []
    for await (const row of activitiesKind.rows(owner, params, signal)) rows.push(row)
    return rows
  }
  const a = await collect('alice', { from: '2026-01-01', to: '2026-01-10', rows: 50 })
  assert.equal(a.length, 50)
  assert.deepEqual(await collect('alice', { from: '2026-01-01', to: '2026-01-10', rows: 50 }), a)
  assert.notDeepEqual(await collect('bob', { from: '2026-01-01', to: '2026-01-10', rows: 50 }), a)
  assert.match(String(a[0]![0]), /^2026-01-01 /)
  assert.ok(String(a.at(-1)![0]) < '2026-01-11')
  const abort = new AbortController()
  abort.abort(new Error('stop'))
  await assert.rejects(collect('alice', { rows: 10 }, abort.signal), /stop/)
  assert.deepEqual(activitiesKind.validate({ rows: 1_000_001 }).length, 1)
})

test('email templates: HTML escapes what users typed, the text part does not, subjects stay one line', () => {
  const templates = new EmailTemplates({ appUrl: 'https://app.example.com' })
  const mail = templates.render('welcome', {
    name: '<script>alert("x")</script> & Co\r\nBcc: evil@example.com',
  })
  assert.doesNotMatch(mail.html, /<script>/)
  assert.match(mail.html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; Co/)
  assert.match(mail.text, /Welcome, <script>alert\("x"\)<\/script> & Co/)
  assert.doesNotMatch(mail.subject, /[\r\n]/)
  assert.match(mail.html, /style="/, 'inline styles')
  assert.match(mail.html, /https:\/\/app\.example\.com/)
  const ready = templates.render('export-ready', {
    kind: 'activities',
    rows: '12 rows',
    size: '1.2 KB',
    format: 'CSV',
    link: 'https://app.example.com/links/exports/abc?x=1&y=2',
    expiresAt: '2026-12-01 10:00 UTC',
  })
  assert.match(ready.html, /href="https:\/\/app\.example\.com\/links\/exports\/abc\?x=1&amp;y=2"/)
  assert.match(ready.text, /Download: https:\/\/app\.example\.com\/links\/exports\/abc\?x=1&y=2\n/)
  assert.equal(ready.subject, 'Your activities export (CSV) is ready')
  const summary = templates.render('weekly-summary', {
    name: 'Ada',
    period: '2026-11-09 to 2026-11-15',
    figures: [{ label: 'Activities', value: '7' }],
  })
  assert.equal(summary.subject, 'Your week: 7 activities')
  assert.match(summary.text, /- Activities: 7/)
  assert.match(summary.html, /No activities this week/)
})

test('email templates: the subject names what is ready, the heading reads as a sentence, the footer names the product, the welcome button opens the home page', async (t) => {
  const templates = new EmailTemplates({ appUrl: 'https://app.example.com/', product: 'Acme Fitness' })
  const ready = templates.render('export-ready', {
    kind: midSentence('Activities'),
    rows: '1,204 rows',
    size: '88.1 KB',
    format: 'PDF',
    link: 'https://app.example.com/links/exports/abc',
    expiresAt: '2026-12-08 10:00 UTC',
  })
  assert.equal(ready.subject, 'Your activities export (PDF) is ready')
  assert.match(ready.html, /<h1[^>]*>Your activities export is ready<\/h1>/)
  assert.match(ready.html, /1,204 rows, 88\.1 KB, as PDF\./)
  assert.match(
    ready.html,
    /because you have an account with <a href="https:\/\/app\.example\.com"[^>]*>Acme Fitness<\/a>\./,
  )
  assert.doesNotMatch(ready.html, />https?:\/\//, 'no raw URL is shown as text')
  assert.match(ready.text, /^Your activities export is ready: 1,204 rows, 88\.1 KB, as PDF\.$/m)
  assert.match(ready.text, /^— Acme Fitness$/m)
  assert.equal(midSentence('GPS tracks'), 'GPS tracks')

  const welcome = templates.render('welcome', { name: 'Ada' })
  assert.equal(welcome.subject, 'Welcome to Acme Fitness, Ada')
  const button = /<a href="([^"]+)"[^>]*>Open Acme Fitness<\/a>/.exec(welcome.html)
  assert.equal(button?.[1], 'https://app.example.com/')
  assert.match(welcome.text, /^Open Acme Fitness: https:\/\/app\.example\.com\/$/m)

  // The page behind the button exists: HTML naming the product, not a 404.
  const stack = await TestStack.start({ worker: false })
  t.after(() => stack.close())
  const home = await stack.app.inject({ method: 'GET', url: '/' })
  assert.equal(home.statusCode, 200)
  assert.match(String(home.headers['content-type']), /^text\/html/)
  assert.match(home.body, /<h1>Conveyor<\/h1>/)
})

test('recipient limit: at most N emails per address per hour, case-insensitive, shared by every worker over one store', async () => {
  const clock = new ManualClock()
  const store = new MemoryJobStore({}, { clock })
  const workerA = new RecipientLimit(2, clock, store)
  const workerB = new RecipientLimit(2, clock, store)
  assert.equal(await workerA.take('Ada@example.com'), true)
  clock.advance(30 * 60_000)
  assert.equal(await workerB.take('ada@example.com'), true, 'the second, on another worker')
  assert.equal(await workerA.take('ADA@example.com'), false, 'the third, on either worker, is over')
  assert.equal(await workerB.take('ada@example.com'), false)
  assert.equal(await workerB.take('bob@example.com'), true)
  clock.advance(30 * 60_000)
  assert.equal(await workerA.take('ada@example.com'), true, 'a new hour')
})

test('recipient limit: an email that was not sent gives its slot back', async () => {
  const clock = new ManualClock()
  const store = new MemoryJobStore({}, { clock })
  const limit = new RecipientLimit(1, clock, store)
  for (let attempt = 0; attempt < 5; attempt++) {
    assert.equal(await limit.take('ada@example.com'), true, `attempt ${attempt + 1} may send`)
    await limit.giveBack('ada@example.com') // the send failed
  }
  assert.equal(await limit.take('ada@example.com'), true, 'five failures did not use up the hour')
  assert.equal(await new RecipientLimit(1, clock, store).take('ada@example.com'), false)
})

test('email sender: a send the mailer refuses gives the slot back, so the retry and the next email still go', async () => {
  const clock = new ManualClock()
  const store = new MemoryJobStore({}, { clock })
  let failures = 2
  const sent: string[] = []
  const mailer = {
    async send(mail: { to: string }) {
      if (failures-- > 0) throw new Error('unverified sender')
      sent.push(mail.to)
      return { messageId: String(sent.length) }
    },
  }
  const sender = new EmailSender({
    mailer: mailer as never,
    templates: new EmailTemplates({ appUrl: 'http://localhost' }),
    limit: new RecipientLimit(1, clock, store),
  })
  const welcome = () => sender.send('welcome', 'ada@example.com', { name: 'Ada' })
  await assert.rejects(welcome, /unverified sender/)
  await assert.rejects(welcome, /unverified sender/)
  await welcome()
  assert.deepEqual(sent, ['ada@example.com'])
  await assert.rejects(welcome, /already received 1 email in the last hour/)
})

test('email jobs: over the per-recipient limit the email is dead-lettered with the reason, not sent', async (t) => {
  const stack = await TestStack.start({ handlers: { emailsPerRecipientPerHour: 2 } })
  t.after(() => stack.close())
  const ids: string[] = []
  for (let i = 0; i < 3; i++)
    ids.push((await stack.producer.enqueue('email.welcome', { to: 'ada@example.com', name: 'Ada' })).id)
  const outcomes = await Promise.all(ids.map((id) => stack.outcomes!.waitFor(id)))
  assert.deepEqual(outcomes.map((o) => o.outcome).sort(), ['dead_letter', 'success', 'success'])
  const [letter] = await stack.queue.peekDeadLetters('emails', 10)
  assert.match(letter!.info.message, /already received 2 emails in the last hour/)
  assert.equal((await stack.outbox!.list()).length, 2)
})

test('email.weekly-summary: the week of activities from the export source, emailed', async (t) => {
  const stack = await TestStack.start()
  t.after(() => stack.close())
  const { id } = await stack.producer.enqueue('email.weekly-summary', {
    to: 'ada@example.com',
    name: 'Ada',
    owner: 'ada',
    weekStart: '2026-11-09',
  })
  assert.equal((await stack.outcomes!.waitFor(id)).outcome, 'success')
  const [mail] = await stack.outbox!.list()
  assert.equal(mail!.subject, 'Your week: 7 activities')
  const html = (await stack.outbox!.read(mail!.id, 'html'))!
  assert.match(html, /2026-11-09 to 2026-11-15/)
  assert.match(html, /Longest: a \d+-minute \w+ on 2026-11-1\d/)
})

test('exports.build: a failing export ends failed with its error and builds when redriven; one deleted mid-build leaves no file behind', async (t) => {
  let databaseBack = false
  let release!: () => void
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const stack = await TestStack.start({
    handlers: {
      kinds: [
        {
          ...activitiesKind,
          name: 'broken',
          validate: () => [],
          async *rows() {
            yield ['2026-01-01', 'run', 1, 1, 1, '']
            if (!databaseBack) throw new Error('database went away')
          },
        },
        {
          ...activitiesKind,
          name: 'slow',
          validate: () => [],
          async *rows() {
            await gate
            yield ['2026-01-01', 'run', 1, 1, 1, '']
          },
        },
      ] as never,
    },
  })
  t.after(() => stack.close())
  const auth = { authorization: bearer('carol') }
  const post = (kind: string) =>
    stack.app.inject({ method: 'POST', url: '/v1/exports', headers: auth, payload: { kind, format: 'csv' } })
  const broken = (await post('broken')).json() as { id: string }
  await stack.outcomes!.waitUntil(
    (e) => e.type === 'exports.build' && e.outcome === 'dead_letter',
    'broken export',
    60_000,
  )
  const failed = (
    await stack.app.inject({ method: 'GET', url: `/v1/exports/${broken.id}`, headers: auth })
  ).json() as {
    status: string
    error: string
  }
  assert.equal(failed.status, 'failed')
  assert.equal(failed.error, 'database went away')

  // The database is back; the operator redrives the dead letter and the export completes after all.
  databaseBack = true
  assert.equal(await stack.queue.redrive('exports'), 1)
  await stack.succeeded('exports.build')
  const rebuilt = (
    await stack.app.inject({ method: 'GET', url: `/v1/exports/${broken.id}`, headers: auth })
  ).json() as { status: string; rows: number; error?: string }
  assert.deepEqual([rebuilt.status, rebuilt.rows, rebuilt.error], ['completed', 1, undefined])

  const slow = (await post('slow')).json() as { id: string }
  await stack.handlers.exports.records
    .get('carol', slow.id)
    .then(async function waitRunning(record): Promise<void> {
      if (record?.status === 'running') return
      await new Promise((resolve) => setImmediate(resolve))
      return waitRunning(await stack.handlers.exports.records.get('carol', slow.id))
    })
  assert.equal(
    (await stack.app.inject({ method: 'DELETE', url: `/v1/exports/${slow.id}`, headers: auth })).statusCode,
    204,
  )
  release()
  await stack.succeeded('exports.build', 2)
  assert.deepEqual(
    (await stack.store.list('exports/carol/')).map((o) => o.key).filter((k) => k.includes(slow.id)),
    [],
  )
})

test('pdf: rendered on a worker thread; aborting stops it and rejects with the reason', async () => {
  const report = (rows: number) => ({
    title: 'Activities',
    owner: 'ada',
    period: '2026-01-01 to 2026-01-31',
    generatedAt: new Date(),
    columns: activitiesKind.columns,
    rows: Array.from({ length: rows }, (_, i) => activityRow(1, i, Date.UTC(2026, 0, 1), 86_400_000)),
    summary: [{ label: 'Activities', value: String(rows) }],
  })
  const pdf = await renderPdfInThread(report(50), new AbortController().signal)
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-')
  const abort = new AbortController()
  const rendering = renderPdfInThread(report(20_000), abort.signal)
  let settled = false
  rendering.then(
    () => {
      settled = true
    },
    () => {
      settled = true
    },
  )
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(settled, false, 'the event loop turns while the 20,000-row PDF is still being laid out')
  abort.abort(new Error('export timed out'))
  await assert.rejects(rendering, /export timed out/)
})

test('pdf: one render at a time per process, also when a waiting one gives up', async () => {
  const report = (rows: number) => ({
    title: 'Activities',
    owner: 'ada',
    generatedAt: new Date(),
    columns: activitiesKind.columns,
    rows: Array.from({ length: rows }, (_, i) => activityRow(1, i, Date.UTC(2026, 0, 1), 86_400_000)),
    summary: [],
  })
  const order: string[] = []
  const track = (name: string, promise: Promise<unknown>) =>
    promise.then(
      () => order.push(`${name} done`),
      () => order.push(`${name} gave up`),
    )
  const gaveUp = new AbortController()
  // A big one first and a tiny one last: run side by side, the tiny one would finish first.
  const first = track('first', renderPdfInThread(report(3000), new AbortController().signal))
  const second = track('second', renderPdfInThread(report(10), gaveUp.signal))
  const third = track('third', renderPdfInThread(report(10), new AbortController().signal))
  gaveUp.abort(new Error('not needed any more'))
  await Promise.all([first, second, third])
  assert.deepEqual(order, ['second gave up', 'first done', 'third done'])
})
