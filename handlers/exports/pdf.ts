import { createRequire } from 'node:module'
import type { Content, CustomTableLayout, TDocumentDefinitions } from 'pdfmake/interfaces.js'
import { formatNumber } from './format.ts'
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

/** The name and logo at the top of every PDF report (BRAND_NAME, BRAND_LOGO). */
export interface PdfBrand {
  name?: string
  /** A PNG or JPEG as a `data:image/png;base64,…` URL (pdfmake may read no file or URL itself). */
  logo?: string
}

export interface PdfReport {
  title: string
  owner: string
  period?: string | undefined
  generatedAt: Date
  columns: readonly ExportColumn[]
  rows: readonly (readonly unknown[])[]
  summary: readonly SummaryFigure[]
  brand?: PdfBrand | undefined
}

/** A4 in points, and the page margins (left, top, right, bottom). */
export const PAGE_WIDTH = 595.28
export const PAGE_MARGINS: [number, number, number, number] = [36, 40, 36, 40]
/** Horizontal padding inside every table cell, each side. */
export const CELL_PADDING = 4

/** Light horizontal rules, no vertical ones, the same padding in every cell (so widths add up). */
export const TABLE_LAYOUT: CustomTableLayout = {
  hLineWidth: (i, node) =>
    i === 0 || i === node.table.body.length ? 0 : i === node.table.headerRows ? 1 : 0.5,
  vLineWidth: () => 0,
  hLineColor: (i, node) => (i === node.table.headerRows ? '#333333' : '#bbbbbb'),
  paddingLeft: () => CELL_PADDING,
  paddingRight: () => CELL_PADDING,
  paddingTop: () => 3,
  paddingBottom: () => 3,
}

/**
 * Column widths (the text area of each cell) in proportion to `pdfWidth`, such that with the cells'
 * padding the table is exactly as wide as the space between the margins, never wider.
 */
export function columnWidths(columns: readonly ExportColumn[]): number[] {
  const total = columns.reduce((sum, c) => sum + (c.pdfWidth ?? 1), 0)
  const usable = PAGE_WIDTH - PAGE_MARGINS[0] - PAGE_MARGINS[2] - 2 * CELL_PADDING * columns.length
  return columns.map((c) => Math.floor((usable * (c.pdfWidth ?? 1) * 100) / total) / 100)
}

function cell(value: unknown, column: ExportColumn): string {
  if (value === null || value === undefined) return ''
  return typeof value === 'number' ? formatNumber(value, column.decimals ?? 0) : String(value)
}

function heading(report: PdfReport): Content[] {
  const { name, logo } = report.brand ?? {}
  if (!name && !logo) return []
  return [
    {
      columns: [
        ...(logo ? [{ image: logo, fit: [96, 28] as [number, number], width: 'auto' as const }] : []),
        ...(name
          ? [{ text: name, bold: true, fontSize: 11, color: '#333333', margin: [logo ? 8 : 0, 8, 0, 0] }]
          : []),
      ],
      columnGap: 0,
      margin: [0, 0, 0, 10],
    } as Content,
  ]
}

/** The report as pdfmake's document definition: brand, title, subtitle, summary figures, then the table. */
export function reportDefinition(report: PdfReport): TDocumentDefinitions {
  const header = report.columns.map((c) => ({
    text: c.label ?? c.header,
    bold: true,
    alignment: c.align ?? 'left',
  }))
  const columns = report.columns
  const body: Content[][] = [
    header,
    ...report.rows.map((row) =>
      row.map((value, i) =>
        columns[i]?.align === 'right'
          ? { text: cell(value, columns[i]!), alignment: 'right' as const }
          : cell(value, columns[i] ?? { header: '' }),
      ),
    ),
  ]
  const subtitle = [
    `For ${report.owner}`,
    report.period,
    `generated ${report.generatedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  ]
    .filter(Boolean)
    .join(' · ')
  return {
    info: { title: `${report.title} export`, author: report.brand?.name ?? 'Conveyor' },
    pageSize: 'A4',
    pageMargins: PAGE_MARGINS,
    defaultStyle: { font: 'Helvetica', fontSize: 8 },
    footer: (page, pages) => ({
      text: `${page} / ${pages}`,
      alignment: 'center',
      fontSize: 7,
      margin: [0, 10, 0, 0],
    }),
    content: [
      ...heading(report),
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
        layout: TABLE_LAYOUT,
      },
    ],
  }
}

/**
 * The report as a PDF, its table header repeated on every page. pdfmake lays out the whole document in
 * memory (about 25 KB per row on this machine), which is why PDF exports have a row cap
 * (EXPORT_PDF_MAX_ROWS).
 */
export function renderPdf(report: PdfReport): Promise<Buffer> {
  return pdfmake.createPdf(reportDefinition(report)).getBuffer()
}
