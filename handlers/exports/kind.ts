import type { Static, TSchema } from 'typebox'
import { ConfigError } from '../../src/errors.ts'
import { SchemaChecker } from '../../src/validation.ts'

/** One column of an export: the header line's text and how wide it is in a PDF (a share of the page). */
export interface ExportColumn {
  /** The CSV header: a field name (`duration_min`). */
  header: string
  /** The PDF column heading, for people (`Duration (min)`). Default `header`. */
  label?: string
  /** Numbers in this column are shown in the PDF with thousands separators and this many decimals. Default 0. */
  decimals?: number
  /** Relative width in the PDF table. Default 1. */
  pdfWidth?: number
  /** Alignment in the PDF table (numbers read best right-aligned). Default left. */
  align?: 'left' | 'right'
}

/** A figure shown above the table in a PDF, e.g. `Total distance: 1,204.5 km`. */
export interface SummaryFigure {
  label: string
  value: string
}

/**
 * Something users can export: a name, its columns, and the rows for one owner. Rows are arrays in
 * column order, yielded as an async iterable so a million of them never sit in memory at once. Plug
 * in a real data source by writing one of these over your database's cursor (see the README).
 */
export interface ExportKindSpec<S extends TSchema> {
  /** The `kind` clients ask for, e.g. `activities`. */
  name: string
  /** Title of the PDF and of the email. */
  title: string
  /** TypeBox schema of `params`; checked when the export is requested. */
  params: S
  columns: readonly ExportColumn[]
  /** Problems the schema cannot see (e.g. `from` after `to`), as `params.field: message`. */
  check?(params: Static<S>): string[]
  /** Rows the export will have, when it is known up front (it lets PDF requests over the cap fail at once). */
  countRows?(owner: string, params: Static<S>): number | undefined
  /** A human description of the period, for the PDF and the email. */
  describe?(params: Static<S>): string
  /** The rows, in order. Stop early when `signal` aborts (the job timed out or the client went away). */
  rows(owner: string, params: Static<S>, signal: AbortSignal): AsyncIterable<readonly unknown[]>
  /** Summary figures for the PDF, from the rows it will contain. */
  summarize?(rows: readonly (readonly unknown[])[]): SummaryFigure[]
}

export interface ExportKind<S extends TSchema = TSchema> extends ExportKindSpec<S> {
  /** Every problem with `params`, as `params.field: message`; empty when valid. */
  validate(params: unknown): string[]
}

/** Declares an export kind; its settings are checked here, once. */
export function defineExportKind<S extends TSchema>(spec: ExportKindSpec<S>): ExportKind<S> {
  const problems: string[] = []
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(spec.name))
    problems.push('name must be 1-63 lowercase letters, digits or -')
  if (spec.columns.length === 0) problems.push('columns must not be empty')
  if (typeof spec.rows !== 'function') problems.push('rows must be a function')
  if (problems.length > 0) throw new ConfigError(`export kind "${spec.name}"`, problems)
  const checker = new SchemaChecker(spec.params)
  return {
    ...spec,
    validate(params) {
      if (!checker.check(params))
        return checker.problems(params, (path) => `params${path.replaceAll('/', '.')}`)
      return spec.check?.(params) ?? []
    },
  }
}

/** The export kinds a deployment offers, by name. */
export class ExportKinds {
  readonly #kinds = new Map<string, ExportKind>()

  constructor(kinds: readonly ExportKind[]) {
    for (const kind of kinds) {
      if (this.#kinds.has(kind.name))
        throw new ConfigError('export kinds', [`"${kind.name}" is registered twice`])
      this.#kinds.set(kind.name, kind as ExportKind)
    }
  }

  get(name: string): ExportKind | undefined {
    return this.#kinds.get(name)
  }

  names(): string[] {
    return [...this.#kinds.keys()]
  }
}
