import { createRequire } from 'node:module'
import type { Content, TDocumentDefinitions } from 'pdfmake/interfaces.js'
import type { ExportColumn, SummaryFigure } from './kind.ts'

// pdfmake is CommonJS and exports one configured instance.
const pdfmake = createRequire(import.meta.url)('pdfmake') as typeof import('pdfmake')
// The 14 standard PDF fonts need no font files; documents never fetch URLs or read local files.
const HELVETICA = {
  normal: 'Helvetica',
  bold: 'Helvetica-Bold',
  italics: 'Helvetica-Oblique',
  bolditalics: 'Helvetica-BoldOblique',
}
const STANDARD_FONTS = new Set(Object.values(HELVETICA))
pdfmake.setFonts({ Helvetica: HELVETICA })
pdfmake.setUrlAccessPolicy(() => false)
// pdfmake passes font names through its file policy too: allow the built-in ones and nothing else.
pdfmake.setLocalAccessPolicy((path) => STANDARD_FONTS.has(path))

export interface PdfReport {
  title: string
  owner: string
  period?: string
  generatedAt: Date
  columns: readonly ExportColumn[]
  rows: readonly (readonly unknown[])[]
  summary: readonly SummaryFigure[]
}

/** A4 less the margins, less each cell's 8 pt of padding. */
const TABLE_WIDTH = 595 - 72

function columnWidths(columns: readonly ExportColumn[]): number[] {
  const total = columns.reduce((sum, c) => sum + (c.pdfWidth ?? 1), 0)
  const usable = TABLE_WIDTH - 8 * columns.length
  return columns.map((c) => Math.floor((usable * (c.pdfWidth ?? 1)) / total))
}

function cell(value: unknown): string {
  return value === null || value === undefined ? '' : String(value)
}

/**
 * The report as a PDF: title, owner, period, summary figures, then the table with its header repeated
 * on every page. pdfmake lays out the whole document in memory (about 25 KB per row on this machine),
 * which is why PDF exports have a row cap (EXPORT_PDF_MAX_ROWS).
 */
export function renderPdf(report: PdfReport): Promise<Buffer> {
  const header = report.columns.map((c) => ({ text: c.header, bold: true, alignment: c.align ?? 'left' }))
  const right = report.columns.map((c) => c.align === 'right')
  const body: Content[][] = [
    header,
    ...report.rows.map((row) =>
      row.map((value, i) => (right[i] ? { text: cell(value), alignment: 'right' as const } : cell(value))),
    ),
  ]
  const subtitle = [
    `For ${report.owner}`,
    report.period,
    `generated ${report.generatedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  ]
    .filter(Boolean)
    .join(' · ')
  const document: TDocumentDefinitions = {
    info: { title: `${report.title} export`, author: 'Conveyor' },
    pageSize: 'A4',
    pageMargins: [36, 40, 36, 40],
    defaultStyle: { font: 'Helvetica', fontSize: 8 },
    footer: (page, pages) => ({
      text: `${page} / ${pages}`,
      alignment: 'center',
      fontSize: 7,
      margin: [0, 10, 0, 0],
    }),
    content: [
      { text: `${report.title} export`, fontSize: 18, bold: true },
      { text: subtitle, color: '#555555', margin: [0, 2, 0, 10] },
      {
        columns: report.summary.map((figure) => ({
          stack: [
            { text: figure.value, fontSize: 13, bold: true },
            { text: figure.label, color: '#555555' },
          ],
        })),
        margin: [0, 0, 0, 12],
      },
      {
        table: { headerRows: 1, widths: columnWidths(report.columns), body },
        layout: 'lightHorizontalLines',
      },
    ],
  }
  return pdfmake.createPdf(document).getBuffer()
}
