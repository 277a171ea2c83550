import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import Value from 'typebox/value'
import { ConfigError } from './errors.ts'

/** A TypeBox error, reduced to what the formatter needs. */
interface SchemaIssue {
  keyword: string
  schemaPath: string
  instancePath: string
  params: Record<string, unknown>
  message: string
}

/**
 * A compiled schema that reports every problem as a readable sentence naming the field. A schema node
 * may carry `errorMessage` (e.g. "must look like name:weight,...") to replace the generic sentence.
 */
export class SchemaChecker<S extends TSchema> {
  readonly schema: S
  readonly #compiled: ReturnType<typeof Compile<S>>

  constructor(schema: S) {
    this.schema = schema
    this.#compiled = Compile(schema)
  }

  check(value: unknown): value is Static<S> {
    return this.#compiled.Check(value)
  }

  /** Every problem with `value`; `fieldName` maps a JSON pointer (`/a/b`) to the name a user knows. */
  problems(value: unknown, fieldName: (path: string) => string = defaultFieldName): string[] {
    const issues = [...this.#compiled.Errors(value)] as SchemaIssue[]
    const out: string[] = []
    for (const issue of issues) {
      if (issue.keyword === 'boolean') continue // reported again as additionalProperties
      const hint = (pointer(this.schema, issue.schemaPath.slice(1)) as { errorMessage?: unknown } | undefined)
        ?.errorMessage
      const line =
        typeof hint === 'string'
          ? `${fieldName(issue.instancePath)} ${hint} (got ${describeValue(pointer(value, issue.instancePath))})`
          : formatIssue(issue, value, fieldName)
      if (!out.includes(line)) out.push(line)
    }
    return out
  }

  /** Fills defaults, then validates; throws ConfigError listing every problem. Does not mutate input. */
  parse(subject: string, value: unknown, fieldName?: (path: string) => string): Static<S> {
    const withDefaults = Value.Default(this.schema, structuredClone(value ?? {}))
    if (this.check(withDefaults)) return withDefaults
    throw new ConfigError(subject, this.problems(withDefaults, fieldName))
  }
}

function defaultFieldName(path: string): string {
  return path === '' ? '(root)' : path.slice(1).replaceAll('/', '.')
}

function formatIssue(issue: SchemaIssue, root: unknown, fieldName: (path: string) => string): string {
  const p = issue.params
  switch (issue.keyword) {
    case 'additionalProperties': {
      const extra = (p.additionalProperties as string[] | undefined) ?? []
      const base = issue.instancePath
      return extra.map((k) => `${fieldName(`${base}/${k}`)} is not a known setting`).join('; ')
    }
    case 'required': {
      const missing = (p.requiredProperties as string[] | undefined) ?? []
      return missing.map((k) => `${fieldName(`${issue.instancePath}/${k}`)} is required`).join('; ')
    }
    default: {
      const got = describeValue(pointer(root, issue.instancePath))
      const field = fieldName(issue.instancePath)
      switch (issue.keyword) {
        case 'enum':
          return `${field} must be one of ${(p.allowedValues as unknown[]).join(', ')} (got ${got})`
        case 'minimum':
        case 'maximum':
        case 'exclusiveMinimum':
        case 'exclusiveMaximum':
          return `${field} must be ${String(p.comparison)} ${String(p.limit)} (got ${got})`
        case 'type':
          return `${field} must be ${article(String(p.type))} (got ${got})`
        default:
          return `${field} ${issue.message} (got ${got})`
      }
    }
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}

function pointer(root: unknown, path: string): unknown {
  let cur = root
  for (const key of path.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[key.replaceAll('~1', '/').replaceAll('~0', '~')]
  }
  return cur
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing'
  const s = JSON.stringify(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}
