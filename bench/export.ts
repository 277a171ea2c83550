// The export job's file-building path on the embedded defaults (activities demo source → papaparse CSV
// → file store; pdfmake for PDF), each case in its own process so peak RSS is that case's alone:
// CSV of 100,000 rows, CSV of 1,000,000 rows (memory must stay flat: rssRatio = 1M ÷ 100k), and a
// 20,000-row PDF (the documented cap) on its renderer thread, as the job runs it. Peak RSS is the
// process's maxRSS at the end (threads share it).
// Last line: { "bench": "export", "csv100kRssMb", "csv1mRssMb", "rssRatio", "csvRowsPerSec", "pdf20kSeconds", "pdf20kRssMb" }
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { activitiesKind } from '../handlers/exports/activities.ts'
import { csvExport } from '../handlers/exports/csv.ts'
import { renderPdfInThread } from '../handlers/exports/pdf-thread.ts'
import { FsObjectStore } from '../src/storage/fs-store.ts'

interface CaseResult {
  rows: number
  bytes: number
  seconds: number
  rssMb: number
}

async function runCase(format: 'csv' | 'pdf', rows: number): Promise<CaseResult> {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-export-bench-'))
  const store = new FsObjectStore(dir)
  const signal = new AbortController().signal
  const params = { from: '2020-01-01', to: '2026-11-01', rows }
  const started = performance.now()
  let bytes: number
  let written: number
  if (format === 'csv') {
    const csv = csvExport(activitiesKind.columns, activitiesKind.rows('bench-user', params, signal))
    bytes = await store.put('exports/bench-user/bench.csv', csv.stream)
    written = csv.rows
  } else {
    const collected: (readonly unknown[])[] = []
    for await (const row of activitiesKind.rows('bench-user', params, signal)) collected.push(row)
    const pdf = await renderPdfInThread(
      {
        title: activitiesKind.title,
        owner: 'bench-user',
        period: activitiesKind.describe!(params),
        generatedAt: new Date(),
        columns: activitiesKind.columns,
        rows: collected,
        summary: activitiesKind.summarize!(collected),
      },
      signal,
    )
    bytes = await store.put('exports/bench-user/bench.pdf', pdf)
    written = collected.length
  }
  const seconds = (performance.now() - started) / 1000
  await rm(dir, { recursive: true, force: true })
  return { rows: written, bytes, seconds, rssMb: Math.round(process.resourceUsage().maxRSS / 1024) }
}

function inChild(format: 'csv' | 'pdf', rows: number): CaseResult {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), 'case', format, String(rows)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  })
  return JSON.parse(out.trim().split('\n').at(-1)!) as CaseResult
}

if (process.argv[2] === 'case') {
  console.log(JSON.stringify(await runCase(process.argv[3] as 'csv' | 'pdf', Number(process.argv[4]))))
} else {
  const csv100k = inChild('csv', 100_000)
  const csv1m = inChild('csv', 1_000_000)
  const pdf20k = inChild('pdf', 20_000)
  for (const [name, r] of Object.entries({ csv100k, csv1m, pdf20k })) {
    console.log(
      `${name}: ${r.rows} rows, ${(r.bytes / 1e6).toFixed(1)} MB, ${r.seconds.toFixed(2)} s, peak RSS ${r.rssMb} MB`,
    )
  }
  console.log(
    JSON.stringify({
      bench: 'export',
      csv100kRssMb: csv100k.rssMb,
      csv1mRssMb: csv1m.rssMb,
      rssRatio: Math.round((csv1m.rssMb / csv100k.rssMb) * 100) / 100,
      csvRowsPerSec: Math.round(csv1m.rows / csv1m.seconds),
      pdf20kSeconds: Math.round(pdf20k.seconds * 100) / 100,
      pdf20kRssMb: pdf20k.rssMb,
    }),
  )
}
