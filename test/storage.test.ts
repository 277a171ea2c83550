import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { after, before, test } from 'node:test'
import { ClaimCheck } from '../src/claim-check.ts'
import { ObjectNotFoundError, StorageUnavailableError } from '../src/errors.ts'
import { FsObjectStore } from '../src/storage/fs-store.ts'
import { GcsObjectStore } from '../src/storage/gcs-store.ts'
import type { ObjectStore } from '../src/storage/object-store.ts'
import { S3ObjectStore } from '../src/storage/s3-store.ts'
import { AwsTestBackend } from './support/aws.ts'
import { type RunningGcsEmulator, startGcsEmulator } from './support/gcs-emulator.ts'

const aws = new AwsTestBackend()
let gcs: RunningGcsEmulator
let dir = ''
before(async () => {
  await aws.start()
  gcs = await startGcsEmulator()
  dir = await mkdtemp(join(tmpdir(), 'conveyor-store-'))
})
after(async () => {
  await aws.stop()
  await gcs.stop()
  await rm(dir, { recursive: true, force: true })
})

/** What a backend truly does differently; every other case is the same for all. */
interface StoreCapabilities {
  /** The download URL the store signs itself (fs: none, the API streams the file), as a pattern. */
  signedUrl: RegExp | undefined
  /** A store on a bucket that does not exist, if the backend can have one (fs creates its folder). */
  missingBucket?: () => ObjectStore
}

/** Every object store passes the same cases. */
function storeSuite(name: string, open: () => ObjectStore, can: StoreCapabilities): void {
  test(`${name} store: put, head, get and delete round trip`, async () => {
    const store = open()
    const bytes = await store.put('exports/alice/a.csv', 'a,b\n1,2\n', { contentType: 'text/csv' })
    assert.equal(bytes, 8)
    const info = await store.head('exports/alice/a.csv')
    assert.equal(info?.size, 8)
    assert.equal(info?.contentType, 'text/csv')
    assert.equal(await text(await store.get('exports/alice/a.csv')), 'a,b\n1,2\n')
    await store.delete('exports/alice/a.csv')
    assert.equal(await store.head('exports/alice/a.csv'), undefined)
    await store.delete('exports/alice/a.csv') // deleting twice is fine
  })

  test(`${name} store: a streamed write of 24 MiB arrives whole (multipart on S3)`, async () => {
    const store = open()
    const chunk = Buffer.alloc(1024 * 1024, 'q')
    let sent = 0
    const source = new Readable({
      read() {
        this.push(sent++ < 24 ? chunk : null)
      },
    })
    assert.equal(await store.put('big/blob.bin', source), 24 * 1024 * 1024)
    assert.equal((await store.head('big/blob.bin'))?.size, 24 * 1024 * 1024)
    let read = 0
    for await (const part of await store.get('big/blob.bin')) read += (part as Buffer).length
    assert.equal(read, 24 * 1024 * 1024)
  })

  test(`${name} store: list by prefix; missing objects are ObjectNotFoundError`, async () => {
    const store = open()
    await store.put('list/bob/1.csv', 'x')
    await store.put('list/bob/2.csv', 'y')
    await store.put('list/carol/1.csv', 'z')
    assert.deepEqual(
      (await store.list('list/bob/')).map((o) => o.key),
      ['list/bob/1.csv', 'list/bob/2.csv'],
    )
    await assert.rejects(store.get('list/nobody.csv'), ObjectNotFoundError)
  })

  test(`${name} store: the download URL ${can.signedUrl ? 'is signed and downloads the file under its name' : 'is left to the API'}`, async () => {
    const store = open()
    await store.put('signed/report.pdf', '%PDF-1.4 test', { contentType: 'application/pdf' })
    const url = await store.downloadUrl('signed/report.pdf', 60, { fileName: 'report.pdf' })
    if (!can.signedUrl) {
      assert.equal(url, undefined)
      return
    }
    assert.match(url!, can.signedUrl)
    // The signed request asks for the attachment name (fauxqs does not echo it back as a header).
    assert.match(decodeURIComponent(url!), /response-content-disposition=attachment; filename="report\.pdf"/)
    const res = await fetch(url!)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), '%PDF-1.4 test')
  })

  test(`${name} store: ready() passes on a usable store${can.missingBucket ? '; a missing bucket is StorageUnavailableError, not a missing object' : ''}`, async () => {
    await open().ready()
    if (!can.missingBucket) return
    const missing = can.missingBucket()
    await assert.rejects(missing.ready(), StorageUnavailableError)
    await assert.rejects(missing.head('exports/a.json'), StorageUnavailableError)
    await assert.rejects(missing.put('exports/a.json', '{}'), StorageUnavailableError)
  })

  test(`${name} store: a claim check round-trips a large message body and is released`, async () => {
    const claims = new ClaimCheck(open(), {
      thresholdBytes: 1024,
      maxBytes: 10_000,
      prefix: 'claim-checks/',
      transport: 'test',
    })
    const body = JSON.stringify({ rows: 'x'.repeat(50_000) })
    const wire = await claims.wrap('exports', 'm1', body)
    assert.ok(wire.key?.startsWith('claim-checks/exports/'))
    assert.ok(wire.body.length < 200)
    const back = await claims.unwrap(wire.body)
    assert.equal(back.body, body)
    await claims.release(back.key)
    assert.equal(await open().head(wire.key!), undefined)
  })
}

storeSuite('fs', () => new FsObjectStore(dir), { signedUrl: undefined })
storeSuite('s3', () => new S3ObjectStore({ bucket: aws.bucket, client: aws.s3, partSize: 5 * 1024 * 1024 }), {
  signedUrl: /X-Amz-Expires=60.*X-Amz-Signature=/,
  missingBucket: () => new S3ObjectStore({ bucket: 'conveyor-not-provisioned', client: aws.s3 }),
})
// The firebase-tools emulator makes a bucket with its first object, so it has no missing bucket to report.
storeSuite('gcs', () => new GcsObjectStore({ bucket: 'conveyor-test', storage: gcs.storage }), {
  signedUrl: /X-Goog-Algorithm=GOOG4-RSA-SHA256.*X-Goog-Expires=60.*X-Goog-Signature=/,
})

test('gcs store: with signed URLs off, downloads are left to the API', async () => {
  const store = new GcsObjectStore({ bucket: 'conveyor-test', storage: gcs.storage, signedUrls: false })
  await store.put('unsigned/a.csv', 'a')
  assert.equal(await store.downloadUrl('unsigned/a.csv', 60), undefined)
})

test('fs store: keys cannot escape the storage directory', async () => {
  const store = new FsObjectStore(dir)
  await assert.rejects(store.put('../outside.txt', 'no'), { code: 'INVALID_KEY' })
})
