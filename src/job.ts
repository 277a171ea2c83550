import type { Logger } from 'pino'
import Type, { type Static, type TSchema } from 'typebox'
import { type Backoff, BackoffSchema } from './backoff.ts'
import { ConfigError } from './errors.ts'
import { SchemaChecker } from './validation.ts'

/** What a handler gets besides its payload. */
export interface JobContext {
  /** The message id (uuid v7); the same on every attempt. */
  readonly id: string
  readonly type: string
  readonly queue: string
  /** 1-based. */
  readonly attempt: number
  readonly maxAttempts: number
  /** Aborted when the job times out or the worker stops; pass it to fetch, streams, SDK calls. */
  readonly signal: AbortSignal
  /** A pino child logger bound to jobId, type and attempt. */
  readonly log: Logger
  /**
   * Reports how far the job is (0-100, and an optional message), shown on its record (GET /v1/jobs/:id).
   * Best effort: resolves once stored (or the store did not answer), never rejects; values reported
   * while a write is under way collapse into the latest. A no-op for untracked jobs.
   */
  progress(percent: number, message?: string): Promise<void>
}

const JobSettingsSchema = Type.Object(
  {
    /** Unique name the worker dispatches on, e.g. `email.welcome`. Required. */
    type: Type.String({
      pattern: '^[A-Za-z0-9_.:-]{1,200}$',
      errorMessage: 'must be 1-200 letters, digits, or . _ : -',
    }),
    /** Logical queue the job is sent to. Default `default`. */
    queue: Type.String({
      pattern: '^[A-Za-z0-9_-]{1,70}$',
      errorMessage: 'must be 1-70 letters, digits, _ or - (it becomes a cloud resource name)',
      default: 'default',
    }),
    /** The handler's AbortSignal fires after this long and the attempt counts as failed. Default 30000 ms. */
    timeoutMs: Type.Integer({ minimum: 1, default: 30_000 }),
    /** Attempts before dead-lettering. Default 5. */
    maxAttempts: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
    /** Retry delays; see backoffDelay. Default { baseMs: 1000, maxMs: 300000 }. */
    backoff: Type.Optional(BackoffSchema),
    /** May this type be enqueued by HTTP clients through POST /v1/jobs? Default false. */
    publishable: Type.Boolean({ default: false }),
    /**
     * Keep a job record (status, attempts, progress, result, cancel) in the job store? Default true;
     * turn it off for high-volume internal jobs nobody looks up.
     */
    track: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
)

const jobSettings = new SchemaChecker(JobSettingsSchema)
const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 300_000 }

export interface JobSpec<S extends TSchema> {
  type: string
  /** TypeBox (JSON Schema) for the payload; checked on enqueue and again before the handler runs. */
  schema: S
  queue?: string
  timeoutMs?: number
  maxAttempts?: number
  backoff?: Partial<Backoff>
  publishable?: boolean
  track?: boolean
  /**
   * Do the work. Throw to retry; throw NonRetryableError to dead-letter at once. The resolved value (JSON)
   * becomes the job record's `result`.
   */
  handle(payload: Static<S>, ctx: JobContext): Promise<unknown> | unknown
}

export interface JobDefinition<S extends TSchema = TSchema> {
  readonly type: string
  readonly queue: string
  readonly schema: S
  readonly timeoutMs: number
  readonly maxAttempts: number
  readonly backoff: Backoff
  readonly publishable: boolean
  readonly track: boolean
  readonly handle: (payload: Static<S>, ctx: JobContext) => Promise<unknown> | unknown
  /** Every problem with `payload`, as `field: message`; empty when it is valid. */
  validate(payload: unknown): string[]
}

/** Declares a job type. Settings are checked here, once; a bad one throws ConfigError listing all. */
export function defineJob<S extends TSchema>(spec: JobSpec<S>): JobDefinition<S> {
  const { schema, handle, ...rest } = spec
  const problems: string[] = []
  if (typeof handle !== 'function') problems.push('handle must be a function')
  if (schema === null || typeof schema !== 'object') problems.push('schema must be a TypeBox / JSON schema')
  let settings: Static<typeof JobSettingsSchema> | undefined
  try {
    const backoff = rest.backoff ? { ...DEFAULT_BACKOFF, ...rest.backoff } : undefined
    settings = jobSettings.parse(`job "${String(spec.type)}"`, { ...rest, ...(backoff ? { backoff } : {}) })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    problems.push(...err.problems)
  }
  if (problems.length > 0 || !settings) throw new ConfigError(`job "${String(spec.type)}"`, problems)
  const payloadChecker = new SchemaChecker(schema)
  return {
    ...settings,
    backoff: settings.backoff ?? DEFAULT_BACKOFF,
    schema,
    handle,
    validate(payload) {
      if (payloadChecker.check(payload)) return []
      return payloadChecker.problems(payload, (path) =>
        path === '' ? 'payload' : path.slice(1).replaceAll('/', '.'),
      )
    },
  }
}
