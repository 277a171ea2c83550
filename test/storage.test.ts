import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { after, before, test } from 'node:test'
import { ObjectNotFoundError } from '../src/errors.ts'
import { FsObjectStore } from '../src/storage/fs-store.ts'
import type { ObjectStore } from '../src/storage/object-store.ts'
import { S3ObjectStore } from '../src/storage/s3-store.ts'
import { AwsTestBackend } from './support/aws.ts'

const aws = new AwsTestBackend()
let dir = ''
before(async () => {
  await aws.start()
  dir = await mkdtemp(join(tmpdir(), 'conveyor-store-'))
})
after(async () => {
  await aws.stop()
  await rm(dir, { recursive: true, force: true })
})

/** Every object store passes the same cases. */
function storeSuite(name: string, open: () => ObjectStore): void {
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
}

storeSuite('fs', () => new FsObjectStore(dir))
storeSuite('s3', () => new S3ObjectStore({ bucket: aws.bucket, client: aws.s3, partSize: 5 * 1024 * 1024 }))

test('fs store: keys cannot escape the storage directory', async () => {
  const store = new FsObjectStore(dir)
  await assert.rejects(store.put('../outside.txt', 'no'), { code: 'INVALID_KEY' })
})

test('s3 store: the download URL is presigned and downloads the object', async () => {
  const store = new S3ObjectStore({ bucket: aws.bucket, client: aws.s3 })
  await store.put('signed/report.pdf', '%PDF-1.4 test', { contentType: 'application/pdf' })
  const url = await store.downloadUrl('signed/report.pdf', 60, { fileName: 'report.pdf' })
  assert.match(url, /X-Amz-Signature=/)
  assert.match(url, /X-Amz-Expires=60/)
  const res = await fetch(url)
  assert.equal(res.status, 200)
  assert.equal(await res.text(), '%PDF-1.4 test')
})
