import type { TSchema } from 'typebox'
import Value from 'typebox/value'
import { ConfigError } from '../src/errors.ts'
import { SchemaChecker } from '../src/validation.ts'
import { type Config, ConfigSchema } from './schema.ts'

export interface SettingDoc {
  env: string
  path: string
  default: unknown
  description: string
}

/** Every setting with its variable, path in Config, default and description. */
export function describeSettings(): SettingDoc[] {
  const out: SettingDoc[] = []
  walk(ConfigSchema, '', (path, leaf) =>
    out.push({ env: leaf.env, path, default: leaf.default, description: leaf.description ?? '' }),
  )
  return out
}

const checker = new SchemaChecker(ConfigSchema)
const envByPointer = new Map(describeSettings().map((s) => [`/${s.path.replaceAll('.', '/')}`, s.env]))

/**
 * Builds the Config from environment variables (pass `process.env`). Empty strings count as unset.
 * Throws one ConfigError that lists every problem, each naming its variable.
 */
export function loadConfig(environment: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, Record<string, unknown>> = {}
  for (const setting of describeSettings()) {
    const value = environment[setting.env]
    if (value === undefined || value === '') continue
    const [group, key] = setting.path.split('.') as [string, string]
    raw[group] ??= {}
    raw[group][key] = value
  }
  for (const key of Object.keys(ConfigSchema.properties)) raw[key] ??= {}
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, raw))
  const problems = checker.check(converted)
    ? []
    : checker.problems(converted, (pointer) => envByPointer.get(pointer) ?? pointer)
  problems.push(...crossFieldProblems(converted as Config))
  if (problems.length === 0) return converted as Config
  throw new ConfigError('configuration', problems)
}

/** Rules that join two settings; reported together with the schema's own problems. */
function crossFieldProblems(config: Config): string[] {
  const problems: string[] = []
  if (config.storage?.driver === 's3' && !config.storage.bucket)
    problems.push('S3_BUCKET is required when STORAGE_DRIVER=s3')
  if (config.jobStore?.driver === 'dynamodb' && !config.aws?.region)
    problems.push('AWS_REGION is required when JOB_STORE=dynamodb')
  if (
    config.jobStore?.driver === 'firestore' &&
    !config.jobStore.firestoreProjectId &&
    !config.pubsub?.projectId
  )
    problems.push('FIRESTORE_PROJECT_ID (or GOOGLE_CLOUD_PROJECT) is required when JOB_STORE=firestore')
  if (config.app?.env === 'production' && !config.app.jwtSecret) {
    problems.push('AUTH_JWT_SECRET is required when NODE_ENV=production')
  }
  return problems
}

interface Leaf {
  env: string
  default?: unknown
  description?: string
}

function walk(schema: TSchema, path: string, visit: (path: string, leaf: Leaf) => void): void {
  const s = schema as { env?: string; properties?: Record<string, TSchema> }
  if (s.env) {
    visit(path, s as Leaf)
    return
  }
  for (const [key, child] of Object.entries(s.properties ?? {}))
    walk(child, path ? `${path}.${key}` : key, visit)
}
