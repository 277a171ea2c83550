import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import Papa from 'papaparse'
import { SqsQueue } from '../adapters/sqs/index.ts'
import { ManualClock } from '../src/clock.ts'
import { StorageUnavailableError } from '../src/errors.ts'
import { S3ObjectStore } from '../src/storage/s3-store.ts'
import { testLogger } from './support/async.ts'
import { startFauxqs, useLocalAwsEnvironment } from './support/emulators.ts'
import { bearer, TestStack } from './support/stack.ts'

const alice = bearer('alice')
const bob = bearer('bob')

interface ExportBody {
  id: string
  status: string
  statusUrl: string
  downloadUrl?: string
  rows?: number
  bytes?: number
  expiresAt?: string
  error?: string
}

function requestExport(stack: TestStack, auth: string, body: unknown) {
  return stack.app.inject({
    method: 'POST',
    url: '/v1/exports',
    headers: { authorization: auth },
    payload: body as object,
  })
}

function get(stack: TestStack, auth: string, url: string) {
  return stack.app.inject({ method: 'GET', url, headers: { authorization: auth } })
}

test('exports: a CSV export goes queued → completed, downloads, and emails a link that works', async (t) => {
  const stack = await TestStack.start()
  t.after(() => stack.close())
  const res = await requestExport(stack, alice, { kind: 'activities', format: 'csv', params: { rows: 2500 } })
  assert.equal(res.statusCode, 202, res.body)
  const queued = res.json() as ExportBody
  assert.equal(queued.status, 'queued')
  assert.equal(res.headers.location, `http://conveyor.test/v1/exports/${queued.id}`)
  assert.equal(queued.statusUrl, res.headers.location)

  await stack.succeeded('email.export-ready')
  const status = (await get(stack, alice, `/v1/exports/${queued.id}`)).json() as ExportBody
  assert.equal(status.status, 'completed')
  assert.equal(status.rows, 2500)
  assert.equal(status.downloadUrl, `http://conveyor.test/v1/exports/${queued.id}/download`)
  assert.ok(Date.parse(status.expiresAt!) > Date.now() + 167 * 3_600_000)

  const file = await get(stack, alice, `/v1/exports/${queued.id}/download`)
  assert.equal(file.statusCode, 200)
  assert.equal(file.headers['content-type'], 'text/csv; charset=utf-8')
  assert.match(
    String(file.headers['content-disposition']),
    /^attachment; filename="activities-\d{4}-\d{2}-\d{2}-[0-9a-f]{12}\.csv"$/,
  )
  assert.equal(file.rawPayload.length, status.bytes)
  const parsed = Papa.parse<string[]>(file.body.replace(/^\uFEFF/, ''), { skipEmptyLines: true })
  assert.deepEqual(parsed.data[0], ['date', 'type', 'duration_min', 'distance_km', 'calories', 'notes'])
  assert.equal(parsed.data.length, 2501)
  assert.ok(
    await stack.store.head(`exports/alice/${queued.id}.csv`),
    'the file sits at exports/<owner>/<id>.csv',
  )

  const [mail] = await stack.outbox!.list()
  assert.deepEqual(mail!.to, ['alice@example.com'])
  assert.equal(mail!.subject, 'Your activities export (CSV) is ready')
  const html = (await stack.outbox!.read(mail!.id, 'html'))!
  const link = /href="(http:\/\/conveyor\.test\/links\/exports\/[^"]+)"/.exec(html)![1]!
  const viaLink = await stack.app.inject({ method: 'GET', url: link.replace('http://conveyor.test', '') })
  assert.equal(viaLink.statusCode, 200, 'the link needs no bearer token')
  assert.equal(viaLink.body, file.body)
  const eml = (await stack.outbox!.read(mail!.id, 'eml'))!
  assert.match(eml, /Content-Type: text\/plain/)
  assert.match(eml, /Content-Type: text\/html/)
})

test('exports: a PDF export holds the table, and one over the row cap fails fast pointing at CSV', async (t) => {
  const stack = await TestStack.start({ handlers: { pdfMaxRows: 500 } })
  t.after(() => stack.close())
  const tooBig = await requestExport(stack, alice, {
    kind: 'activities',
    format: 'pdf',
    params: { rows: 501 },
  })
  assert.equal(tooBig.statusCode, 400)
  assert.match(tooBig.json().message, /at most 500 rows .* request format "csv"/)

  const res = await requestExport(stack, alice, { kind: 'activities', format: 'pdf', params: { rows: 120 } })
  assert.equal(res.statusCode, 202)
  const { id } = res.json() as ExportBody
  await stack.succeeded('exports.build')
  const file = await get(stack, alice, `/v1/exports/${id}/download`)
  assert.equal(file.statusCode, 200)
  assert.equal(file.headers['content-type'], 'application/pdf')
  assert.equal(file.rawPayload.subarray(0, 5).toString(), '%PDF-')
  assert.equal(((await get(stack, alice, `/v1/exports/${id}`)).json() as ExportBody).rows, 120)
})

test('exports: users only see their own exports; another user gets 404 exactly like an unknown id', async (t) => {
  const stack = await TestStack.start()
  t.after(() => stack.close())
  const { id } = (
    await requestExport(stack, alice, { kind: 'activities', format: 'csv' })
  ).json() as ExportBody
  await stack.succeeded('exports.build')
  for (const [method, url] of [
    ['GET', `/v1/exports/${id}`],
    ['GET', `/v1/exports/${id}/download`],
    ['DELETE', `/v1/exports/${id}`],
  ] as const) {
    const asBob = await stack.app.inject({ method, url, headers: { authorization: bob } })
    const unknown = await stack.app.inject({
      method,
      url: url.replace(id, '01900000-0000-7000-8000-000000000000'),
      headers: { authorization: alice },
    })
    assert.equal(asBob.statusCode, 404, `${method} ${url} as bob`)
    assert.equal(unknown.statusCode, 404)
    assert.equal((asBob.json() as { message: string }).message, `no export ${id}`)
  }
  assert.deepEqual(((await get(stack, bob, '/v1/exports')).json() as { items: unknown[] }).items, [])
  assert.equal(((await get(stack, alice, '/v1/exports')).json() as { items: unknown[] }).items.length, 1)
  assert.equal((await get(stack, alice, `/v1/exports/${id}`)).statusCode, 200, 'bob could not delete it')
  // A sub that is not a plain name cannot reach outside its own folder.
  const sneaky = bearer('../alice')
  assert.equal((await get(stack, sneaky, `/v1/exports/${id}`)).statusCode, 404)
  const own = (await requestExport(stack, sneaky, { kind: 'activities', format: 'csv' })).json() as ExportBody
  await stack.succeeded('exports.build', 2)
  const files = (await stack.store.list('exports/')).map((o) => o.key).filter((k) => k.includes(own.id))
  assert.equal(files.length, 2)
  for (const key of files) assert.match(key, /^exports\/~[0-9a-f]{40}\//)
})

test('exports: 409 before completion, 429 past 3 at once, list newest first with a cursor, delete removes everything', async (t) => {
  const stack = await TestStack.start({ worker: false })
  t.after(() => stack.close())
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await requestExport(stack, alice, {
      kind: 'activities',
      format: 'csv',
      params: { rows: 10 + i },
    })
    assert.equal(res.statusCode, 202)
    ids.push((res.json() as ExportBody).id)
  }
  const fourth = await requestExport(stack, alice, { kind: 'activities', format: 'csv' })
  assert.equal(fourth.statusCode, 429)
  assert.match(fourth.json().message, /already have 3 exports queued or running \(at most 3\)/)
  assert.equal(
    (await requestExport(stack, bob, { kind: 'activities', format: 'csv' })).statusCode,
    202,
    'per user',
  )

  const early = await get(stack, alice, `/v1/exports/${ids[0]}/download`)
  assert.equal(early.statusCode, 409)
  assert.match(early.json().message, /is queued/)
  assert.equal(
    ((await get(stack, alice, `/v1/exports/${ids[0]}`)).json() as ExportBody).downloadUrl,
    undefined,
  )

  const page1 = (await get(stack, alice, '/v1/exports?limit=2')).json() as {
    items: ExportBody[]
    nextCursor: string
  }
  assert.deepEqual(
    page1.items.map((e) => e.id),
    [ids[2], ids[1]],
  )
  const page2 = (await get(stack, alice, `/v1/exports?limit=2&cursor=${page1.nextCursor}`)).json() as {
    items: ExportBody[]
    nextCursor?: string
  }
  assert.deepEqual(
    page2.items.map((e) => e.id),
    [ids[0]],
  )
  assert.equal(page2.nextCursor, undefined)
  assert.equal((await get(stack, alice, '/v1/exports?limit=0')).statusCode, 400)

  const deleted = await stack.app.inject({
    method: 'DELETE',
    url: `/v1/exports/${ids[0]}`,
    headers: { authorization: alice },
  })
  assert.equal(deleted.statusCode, 204)
  assert.equal((await get(stack, alice, `/v1/exports/${ids[0]}`)).statusCode, 404)
  assert.equal((await stack.store.list(`exports/alice/${ids[0]}`)).length, 0)
  assert.equal(
    (await requestExport(stack, alice, { kind: 'activities', format: 'csv' })).statusCode,
    202,
    'room again',
  )
})

test('exports: bad requests are 400s that name the problem', async (t) => {
  const stack = await TestStack.start({ worker: false })
  t.after(() => stack.close())
  const cases: [unknown, RegExp][] = [
    [{ kind: 'sales', format: 'csv' }, /unknown export kind "sales"; known: activities/],
    [{ kind: 'activities', format: 'xlsx' }, /format/],
    [{ kind: 'activities', format: 'csv', params: { rows: 0 } }, /params\.rows/],
    [{ kind: 'activities', format: 'csv', params: { rows: 1_000_001 } }, /params\.rows/],
    [
      { kind: 'activities', format: 'csv', params: { from: '2026-02-01', to: '2026-01-01' } },
      /params\.from: must not be after params\.to/,
    ],
    [
      { kind: 'activities', format: 'csv', params: { from: 'yesterday' } },
      /params\.from must be a calendar date as YYYY-MM-DD/,
    ],
    [{ kind: 'activities', format: 'csv', params: { colour: 'red' } }, /params.*colour|additional/],
    [{ kind: 'activities', format: 'csv', extra: true }, /additional properties/],
  ]
  for (const [body, message] of cases) {
    const res = await requestExport(stack, alice, body)
    assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`)
    assert.match((res.json() as { message: string }).message, message, JSON.stringify(body))
  }
  assert.equal(
    (await requestExport(stack, 'Bearer nope', { kind: 'activities', format: 'csv' })).statusCode,
    401,
  )
  assert.equal((await stack.store.list('exports/')).length, 0, 'nothing was recorded')
})

test('exports: after EXPORT_TTL_HOURS an export reads expired, downloads are 410, and the cleanup job deletes it', async (t) => {
  const clock = new ManualClock(Date.now())
  const stack = await TestStack.start({ clock, handlers: { exportTtlMs: 3_600_000 } })
  t.after(() => stack.close())
  const { id } = (
    await requestExport(stack, alice, { kind: 'activities', format: 'csv' })
  ).json() as ExportBody
  await stack.succeeded('email.export-ready')
  const [mail] = await stack.outbox!.list()
  const link = /href="http:\/\/conveyor\.test(\/links\/exports\/[^"]+)"/.exec(
    (await stack.outbox!.read(mail!.id, 'html'))!,
  )![1]!
  assert.equal((await get(stack, alice, `/v1/exports/${id}/download`)).statusCode, 200)

  clock.advance(3_600_000)
  const status = (await get(stack, alice, `/v1/exports/${id}`)).json() as ExportBody
  assert.equal(status.status, 'expired')
  assert.equal(status.downloadUrl, undefined)
  const gone = await get(stack, alice, `/v1/exports/${id}/download`)
  assert.equal(gone.statusCode, 410)
  assert.match(gone.json().message, /expired/)
  assert.equal((await stack.app.inject({ method: 'GET', url: link })).statusCode, 410, 'the emailed link too')

  await stack.producer.enqueue('exports.cleanup', {})
  await stack.succeeded('exports.cleanup')
  assert.equal((await get(stack, alice, `/v1/exports/${id}`)).statusCode, 404)
  assert.deepEqual(await stack.store.list('exports/'), [])
})

test('exports: download links are refused when forged (404) or past their expiry (410)', async (t) => {
  const stack = await TestStack.start({ worker: false })
  t.after(() => stack.close())
  const links = stack.handlers.exports.links
  const target = { owner: 'alice', exportId: '01900000-0000-7000-8000-000000000000' }
  const expired = links.url(target, new Date(Date.now() - 1000)).replace('http://conveyor.test', '')
  assert.equal((await stack.app.inject({ method: 'GET', url: expired })).statusCode, 410)
  const valid = links.url(target, new Date(Date.now() + 60_000)).replace('http://conveyor.test', '')
  assert.equal((await stack.app.inject({ method: 'GET', url: valid })).statusCode, 404, 'no such export')
  const forged = `${valid.slice(0, -4)}AAAA`
  assert.equal((await stack.app.inject({ method: 'GET', url: forged })).statusCode, 404)
  // A link token is not an API token, although both come from AUTH_JWT_SECRET.
  const token = valid.slice(valid.lastIndexOf('/') + 1)
  assert.equal((await get(stack, `Bearer ${token}`, '/v1/exports')).statusCode, 401)
})

test('activities: GET /v1/activities/export.csv streams the period at once, with formulas defused', async (t) => {
  const stack = await TestStack.start({ worker: false })
  t.after(() => stack.close())
  const res = await get(stack, alice, '/v1/activities/export.csv?from=2026-01-01&to=2026-03-31')
  assert.equal(res.statusCode, 200)
  assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8')
  assert.equal(res.headers['content-disposition'], 'attachment; filename="activities.csv"')
  const rows = Papa.parse<string[]>(res.body.replace(/^\uFEFF/, ''), { skipEmptyLines: true }).data
  assert.equal(rows.length, 1 + 90)
  assert.match(rows[1]![0]!, /^2026-01-01 (0[6-9]|1\d):\d\d$/, 'one a day, in the daytime')
  assert.match(rows[90]![0]!, /^2026-03-31 /)
  const notes = rows.slice(1).map((r) => r[5]!)
  assert.ok(
    notes.some((n) => n.startsWith("'=HYPERLINK")),
    'the demo data has a formula, escaped',
  )
  for (const note of notes) assert.doesNotMatch(note, /^[=+\-@]/)
  const again = await get(stack, alice, '/v1/activities/export.csv?from=2026-01-01&to=2026-03-31')
  assert.equal(again.body, res.body, 'deterministic')
  assert.notEqual(
    (await get(stack, bob, '/v1/activities/export.csv?from=2026-01-01&to=2026-03-31')).body,
    res.body,
  )
  const bad = await get(stack, alice, '/v1/activities/export.csv?from=2026-05-01&to=2026-01-01')
  assert.equal(bad.statusCode, 400)
  assert.match(bad.json().message, /params\.from: must not be after params\.to/)
  assert.equal((await get(stack, alice, '/v1/activities/export.csv?format=xml')).statusCode, 400)
  assert.equal((await stack.app.inject({ method: 'GET', url: '/v1/activities/export.csv' })).statusCode, 401)
})

test('dev outbox: lists emails and shows each; readyz checks the queue and the store', async (t) => {
  const stack = await TestStack.start()
  t.after(() => stack.close())
  const welcome = (payload: object) =>
    stack.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { authorization: alice },
      payload: { type: 'email.welcome', payload },
    })
  assert.equal((await welcome({ to: 'ada@example.com', name: 'Ada <b>' })).statusCode, 202)
  await stack.succeeded('email.welcome')
  const list = (await stack.app.inject({ method: 'GET', url: '/dev/outbox' })).json() as {
    items: { id: string; to: string[]; subject: string; html: string; eml: string }[]
  }
  assert.equal(list.items.length, 1)
  assert.deepEqual(list.items[0]!.to, ['ada@example.com'])
  const html = await stack.app.inject({ method: 'GET', url: list.items[0]!.html })
  assert.equal(html.headers['content-type'], 'text/html; charset=utf-8')
  assert.match(html.body, /Welcome, Ada &lt;b&gt;!/)
  const eml = await stack.app.inject({ method: 'GET', url: list.items[0]!.eml })
  assert.match(eml.body, /^From: Conveyor <noreply@localhost>/m)
  assert.equal((await stack.app.inject({ method: 'GET', url: '/dev/outbox/nope' })).statusCode, 404)
  const ready = await stack.app.inject({ method: 'GET', url: '/readyz' })
  assert.deepEqual(ready.json(), { status: 'ready', queue: 'memory', store: 'fs' })
  const bad = await welcome({ to: 'not an address', name: 'Ada' })
  assert.equal(bad.statusCode, 400)
  assert.match(bad.json().message, /to must be an email address/)
})

test('exports: an unreachable queue or object store is a 503 with Retry-After, and no record is left behind', async (t) => {
  useLocalAwsEnvironment()
  const deadQueue = new SqsQueue({ endpoint: 'http://127.0.0.1:9', autoCreate: true }, { logger: testLogger })
  const stack = await TestStack.start({ queue: deadQueue, worker: false })
  t.after(() => stack.close())
  const res = await requestExport(stack, alice, { kind: 'activities', format: 'csv' })
  assert.equal(res.statusCode, 503)
  assert.equal(res.headers['retry-after'], '5')
  assert.match(res.json().message, /queue is unavailable/)
  assert.deepEqual(await stack.store.list('exports/'), [], 'the queued record was taken back')

  const deadStore = new S3ObjectStore({
    bucket: 'conveyor-nowhere',
    client: new S3Client({ endpoint: 'http://127.0.0.1:9', forcePathStyle: true, maxAttempts: 1 }),
  })
  const noStore = await TestStack.start({ store: deadStore, worker: false })
  t.after(() => noStore.close())
  const refused = await requestExport(noStore, alice, { kind: 'activities', format: 'csv' })
  assert.equal(refused.statusCode, 503, refused.body)
  assert.match(refused.json().message, /backing service is unavailable/)
  assert.equal((await get(noStore, alice, '/v1/exports')).statusCode, 503)
  const ready = await noStore.app.inject({ method: 'GET', url: '/readyz' })
  assert.equal(ready.statusCode, 503)
  assert.match(ready.json().message, /object store not reachable/)
})

test('exports: a bucket that does not exist fails readyz and makes POST /v1/exports a 503, not a 500', async (t) => {
  const fauxqs = await startFauxqs()
  t.after(() => fauxqs.stop())
  const s3 = new S3Client({ endpoint: fauxqs.endpoint, forcePathStyle: true })
  t.after(() => s3.destroy())
  const store = new S3ObjectStore({ bucket: 'conveyor-never-provisioned', client: s3 })
  // The store itself tells a missing bucket apart from a missing object.
  await assert.rejects(store.head('exports/alice/x.json'), StorageUnavailableError)
  const stack = await TestStack.start({ store, worker: false })
  t.after(() => stack.close())
  const ready = await stack.app.inject({ method: 'GET', url: '/readyz' })
  assert.equal(ready.statusCode, 503)
  assert.match(ready.json().message, /bucket "conveyor-never-provisioned" does not exist.*npm run provision/)
  const refused = await requestExport(stack, alice, { kind: 'activities', format: 'csv' })
  assert.equal(refused.statusCode, 503, refused.body)
  assert.match(
    refused.json().message,
    /file storage is unavailable: S3 bucket "conveyor-never-provisioned" does not exist/,
  )

  await s3.send(new CreateBucketCommand({ Bucket: 'conveyor-never-provisioned' }))
  assert.equal((await stack.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  assert.equal(await store.head('exports/alice/x.json'), undefined, 'now a 404 is a missing object')
  assert.equal((await requestExport(stack, alice, { kind: 'activities', format: 'csv' })).statusCode, 202)
})

test('exports: requests racing for the last slot are taken one at a time: one 202, one 429', async (t) => {
  const stack = await TestStack.start({ worker: false })
  t.after(() => stack.close())
  for (let i = 0; i < 2; i++) {
    assert.equal((await requestExport(stack, alice, { kind: 'activities', format: 'csv' })).statusCode, 202)
  }
  const racing = await Promise.all([
    requestExport(stack, alice, { kind: 'activities', format: 'csv' }),
    requestExport(stack, alice, { kind: 'activities', format: 'csv' }),
  ])
  assert.deepEqual(racing.map((r) => r.statusCode).sort(), [202, 429])
})
