import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import type { Content, ContentTable, TDocumentDefinitions } from 'pdfmake/interfaces.js'
import { activitiesKind, activityRow } from '../handlers/exports/activities.ts'
import {
  CELL_PADDING,
  PAGE_MARGINS,
  PAGE_WIDTH,
  type PdfReport,
  renderPdf,
  reportDefinition,
} from '../handlers/exports/pdf.ts'
import { readLogo } from '../handlers/index.ts'
import { ConfigError } from '../src/errors.ts'

const run = promisify(execFile)
const ARTIFACTS = join(import.meta.dirname, '..', 'test-output', 'pdf')
// A 1×1 PNG, as BRAND_LOGO would be read.
const PNG_1PX =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

function report(rows: number, extra: Partial<PdfReport> = {}): PdfReport {
  const data = Array.from({ length: rows }, (_, i) =>
    activityRow(7, i, Date.UTC(2026, 0, 1) + i * 86_400_000, 86_400_000),
  )
  return {
    title: 'Activities',
    owner: 'ada',
    period: '2026-01-01 to 2026-06-30',
    generatedAt: new Date(Date.UTC(2026, 6, 1, 9, 30)),
    columns: activitiesKind.columns,
    rows: data,
    summary: activitiesKind.summarize!(data),
    ...extra,
  }
}

const tableOf = (doc: TDocumentDefinitions) =>
  (doc.content as Content[]).find((c): c is ContentTable => typeof c === 'object' && 'table' in c)!
const texts = (cells: unknown[]) =>
  cells.map((c) => (typeof c === 'string' ? c : (c as { text: string }).text))

test('pdf layout: the table is as wide as the space between the margins at most, at every row count', () => {
  const between = PAGE_WIDTH - PAGE_MARGINS[0] - PAGE_MARGINS[2]
  for (const rows of [0, 1, 37, 2_000]) {
    const doc = reportDefinition(report(rows))
    const table = tableOf(doc)
    const widths = table.table.widths as number[]
    const layout = table.layout as { paddingLeft(i: number): number; paddingRight(i: number): number }
    const padding = widths.reduce((sum, _w, i) => sum + layout.paddingLeft(i) + layout.paddingRight(i), 0)
    const total = widths.reduce((a, b) => a + b, 0) + padding
    assert.equal(padding, 2 * CELL_PADDING * widths.length)
    assert.ok(total <= between, `${rows} rows: table ${total} pt wide, room for ${between}`)
    assert.ok(total > between - 1, `${rows} rows: the table uses the width (${total} of ${between})`)
    assert.equal(table.table.body.length, rows + 1)
    assert.deepEqual(doc.pageMargins, [36, 40, 36, 40])
  }
})

test('pdf layout: column headings are labels, and numbers have one format (separators, fixed decimals) in table and summary', () => {
  const doc = reportDefinition(
    report(0, {
      rows: [
        ['2026-01-01 07:00', 'ride', 1234, 12, 45678, 'long one'],
        ['2026-01-02 07:00', 'run', 30, 30.94, 310, ''],
      ],
      summary: activitiesKind.summarize!([
        ['2026-01-01 07:00', 'ride', 1234, 12, 45678, 'long one'],
        ['2026-01-02 07:00', 'run', 30, 30.94, 310, ''],
      ]),
    }),
  )
  const body = tableOf(doc).table.body
  assert.deepEqual(texts(body[0]!), [
    'Date (UTC)',
    'Type',
    'Duration (min)',
    'Distance (km)',
    'Calories',
    'Notes',
  ])
  assert.deepEqual(texts(body[1]!), ['2026-01-01 07:00', 'ride', '1,234', '12.0', '45,678', 'long one'])
  assert.deepEqual(texts(body[2]!), ['2026-01-02 07:00', 'run', '30', '30.9', '310', ''])
  const summary = JSON.stringify((doc.content as Content[])[2])
  for (const figure of ['"2"', '"21.1 h"', '"42.9 km"', '"45,988"'])
    assert.ok(summary.includes(figure), figure)
})

test('pdf layout: the brand name and logo head the page when set, and nothing does when not', async () => {
  const plain = reportDefinition(report(3))
  assert.equal((plain.content as { text?: string }[])[0]!.text, 'Activities export')
  const branded = reportDefinition(report(3, { brand: { name: 'Acme Fitness', logo: PNG_1PX } }))
  const heading = JSON.stringify((branded.content as Content[])[0])
  assert.match(heading, /"text":"Acme Fitness"/)
  assert.match(heading, /"image":"data:image\/png;base64,/)
  assert.equal(branded.info?.author, 'Acme Fitness')
  const pdf = await renderPdf(report(3, { brand: { name: 'Acme Fitness', logo: PNG_1PX } }))
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-')
})

test('pdf render: every word on page one lies inside the margins; page one saved as PNG (poppler) for a person to look at', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-pdf-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await mkdir(ARTIFACTS, { recursive: true })
  for (const rows of [1, 300]) {
    const file = join(dir, `activities-${rows}.pdf`)
    await writeFile(file, await renderPdf(report(rows, { brand: { name: 'Conveyor' } })))
    // Word boxes as poppler lays them out: the real right edge of the table, not the definition's.
    const { stdout } = await run('pdftotext', ['-bbox', '-f', '1', '-l', '1', file, '-'])
    const right = Math.max(...[...stdout.matchAll(/xMax="([\d.]+)"/g)].map((m) => Number(m[1])))
    const left = Math.min(...[...stdout.matchAll(/xMin="([\d.]+)"/g)].map((m) => Number(m[1])))
    assert.ok(right <= PAGE_WIDTH - PAGE_MARGINS[2] + 0.5, `${rows} rows: text reaches x=${right}`)
    assert.ok(left >= PAGE_MARGINS[0] - 0.5, `${rows} rows: text starts at x=${left}`)
    assert.match(stdout, />Duration<\/word>/)
    await run('pdftoppm', [
      '-png',
      '-r',
      '90',
      '-f',
      '1',
      '-l',
      '1',
      '-singlefile',
      file,
      join(ARTIFACTS, `activities-${rows}-rows-page1`),
    ])
  }
})

test('BRAND_LOGO: a PNG becomes a data URL; a missing file or another format is a configuration error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-logo-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'logo.png'), Buffer.from(PNG_1PX.split(',')[1]!, 'base64'))
  await writeFile(join(dir, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  assert.equal(readLogo(join(dir, 'logo.png')), PNG_1PX)
  assert.throws(
    () => readLogo(join(dir, 'logo.svg')),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      assert.match(err.problems[0]!, /^BRAND_LOGO: .*logo\.svg is not a PNG or JPEG file$/)
      return true
    },
  )
  assert.throws(() => readLogo(join(dir, 'missing.png')), /BRAND_LOGO: cannot read/)
})
