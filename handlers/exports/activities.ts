import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { formatNumber } from './format.ts'
import { defineExportKind, type SummaryFigure } from './kind.ts'

const DAY_MS = 86_400_000
// `format: 'date'` checks the calendar too: 2026-13-01 and 2026-02-30 are refused, 2024-02-29 is not.
const DATE = {
  format: 'date',
  errorMessage: 'must be a calendar date as YYYY-MM-DD (a month 01-12 and a day that month has)',
}

export const ActivitiesParams = Type.Object(
  {
    /** First day, inclusive. Default: 29 days before `to`. */
    from: Type.Optional(Type.String(DATE)),
    /** Last day, inclusive. Default: today (UTC). */
    to: Type.Optional(Type.String(DATE)),
    /** How many activities, spread evenly over the period. Default: one a day. */
    rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
)
export type ActivitiesParams = Static<typeof ActivitiesParams>

const TYPES = ['run', 'ride', 'swim', 'walk', 'hike', 'row'] as const
/** km per minute, roughly, for each type. */
const PACE = [0.18, 0.45, 0.04, 0.09, 0.07, 0.16]
const KCAL_PER_MIN = [11, 9, 10, 5, 7, 8]
// Some notes look like spreadsheet formulas on purpose: the CSV writer must defuse them.
const NOTES = [
  'easy pace',
  'intervals, 6 x 400 m',
  'with the club',
  'felt strong',
  'windy',
  '',
  '=HYPERLINK("http://example.com","PB!")',
  '+10 min cool-down',
  '-5 °C, icy',
  '@home trainer',
  'commute, "rain"',
  'long one; new shoes',
]

/** The period as epoch ms (from at 00:00 UTC, to at 24:00 UTC) and the row count. */
export function resolvePeriod(
  params: ActivitiesParams,
  now = Date.now(),
): { fromMs: number; toMs: number; rows: number } {
  const toMs = (params.to ? Date.parse(`${params.to}T00:00:00Z`) : Math.floor(now / DAY_MS) * DAY_MS) + DAY_MS
  const fromMs = params.from ? Date.parse(`${params.from}T00:00:00Z`) : toMs - 30 * DAY_MS
  const days = Math.max(0, Math.round((toMs - fromMs) / DAY_MS))
  return { fromMs, toMs, rows: params.rows ?? days }
}

/** A small, fast, seeded generator (mulberry32): the same owner and index always give the same row. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * One activity: date, type, duration min, distance km, calories, notes. It starts somewhere in
 * `[slotStart, slotStart + slotMs)`, between 06:00 and 20:00 when the slot is a day or longer.
 */
export function activityRow(
  seed: number,
  index: number,
  slotStart: number,
  slotMs: number,
): [string, string, number, number, number, string] {
  const next = random(seed ^ Math.imul(index + 1, 0x9e3779b1))
  const at = slotStart + (slotMs >= DAY_MS ? 6 * 3_600_000 + next() * 14 * 3_600_000 : next() * slotMs)
  const kind = Math.floor(next() * TYPES.length)
  const minutes = 10 + Math.floor(next() * 170)
  const km = Math.round(minutes * PACE[kind]! * (0.8 + next() * 0.4) * 10) / 10
  const kcal = Math.round(minutes * KCAL_PER_MIN[kind]! * (0.9 + next() * 0.2))
  const note = NOTES[Math.floor(next() * NOTES.length)]!
  return [new Date(at).toISOString().slice(0, 16).replace('T', ' '), TYPES[kind]!, minutes, km, kcal, note]
}

export function ownerSeed(owner: string): number {
  return createHash('sha256').update(owner).digest().readUInt32BE(0)
}

/**
 * Demo data: a deterministic series of workouts per owner (the same request always gives the same
 * file). Replace `rows` with a query over your own database to export real data.
 */
export const activitiesKind = defineExportKind({
  name: 'activities',
  title: 'Activities',
  params: ActivitiesParams,
  columns: [
    { header: 'date', label: 'Date (UTC)', pdfWidth: 1.4 },
    { header: 'type', label: 'Type', pdfWidth: 0.8 },
    { header: 'duration_min', label: 'Duration (min)', align: 'right', pdfWidth: 1 },
    { header: 'distance_km', label: 'Distance (km)', align: 'right', decimals: 1, pdfWidth: 1 },
    { header: 'calories', label: 'Calories', align: 'right', pdfWidth: 0.8 },
    { header: 'notes', label: 'Notes', pdfWidth: 2.4 },
  ],
  check(params) {
    if (params.from && params.to && params.from > params.to)
      return ['params.from: must not be after params.to']
    return []
  },
  countRows: (_owner, params) => resolvePeriod(params).rows,
  describe(params) {
    const { fromMs, toMs } = resolvePeriod(params)
    return `${new Date(fromMs).toISOString().slice(0, 10)} to ${new Date(toMs - DAY_MS).toISOString().slice(0, 10)}`
  },
  async *rows(owner, params, signal) {
    const { fromMs, toMs, rows } = resolvePeriod(params)
    const seed = ownerSeed(owner)
    const step = (toMs - fromMs) / Math.max(rows, 1)
    for (let i = 0; i < rows; i++) {
      if ((i & 1023) === 0) signal.throwIfAborted()
      yield activityRow(seed, i, fromMs + Math.floor(i * step), step)
    }
  },
  summarize(rows): SummaryFigure[] {
    let minutes = 0
    let km = 0
    let kcal = 0
    for (const row of rows) {
      minutes += row[2] as number
      km += row[3] as number
      kcal += row[4] as number
    }
    // Counts as whole numbers, measurements with one decimal, as in the table.
    return [
      { label: 'Activities', value: formatNumber(rows.length) },
      { label: 'Total duration', value: `${formatNumber(minutes / 60, 1)} h` },
      { label: 'Total distance', value: `${formatNumber(km, 1)} km` },
      { label: 'Calories', value: formatNumber(kcal) },
    ]
  },
})
