import type { Config } from '../../config/schema.ts'
import { ConfigError, StoreUnavailableError } from '../errors.ts'
import { JOB_STATUSES, jobView } from '../ledger/view.ts'
import { createJobStore } from '../store/create-job-store.ts'
import type { JobStatus } from '../store/job-store.ts'
import { table } from './cli-format.ts'

export interface JobsFlags {
  json?: boolean
  status?: string
  owner?: string
  type?: string
  limit?: string
  cursor?: string
}

/**
 * `npm run conveyor -- jobs list|show|cancel`: the job ledger from a terminal, on the store JOB_STORE
 * names. Resolves to the exit code (0 done, 1 not found / refused / store down, 2 bad usage).
 */
export async function jobsCommand(config: Config, args: string[], flags: JobsFlags): Promise<number> {
  const out = (json: unknown, text: string) =>
    process.stdout.write(flags.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`)
  const fail = (message: string, code: number) => {
    process.stderr.write(`conveyor: ${message}\n`)
    return code
  }
  if (config.jobStore.driver === 'memory') {
    return fail(
      'JOB_STORE=memory keeps job records inside the `npm start` process; use its API (GET /v1/jobs, /v1/admin/jobs), or set JOB_STORE=dynamodb|firestore',
      1,
    )
  }
  const [sub, id] = args
  if (flags.status && !JOB_STATUSES.includes(flags.status as JobStatus))
    return fail(`--status must be one of ${JOB_STATUSES.join(', ')}`, 2)
  const limit = flags.limit ? Number(flags.limit) : 20
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return fail('--limit must be 1-100', 2)
  if ((sub === 'show' || sub === 'cancel') && !id) return fail(`jobs ${sub} needs a job id`, 2)
  let store: Awaited<ReturnType<typeof createJobStore>>
  try {
    store = await createJobStore(config)
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 1)
    throw err
  }
  try {
    switch (sub) {
      case 'list': {
        const page = await store.list({
          limit,
          ...(flags.status ? { status: flags.status as JobStatus } : {}),
          ...(flags.owner ? { owner: flags.owner } : {}),
          ...(flags.type ? { type: flags.type } : {}),
          ...(flags.cursor ? { cursor: flags.cursor } : {}),
        })
        const items = page.items.map(jobView)
        out(
          { items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) },
          items.length === 0
            ? 'no jobs'
            : table([
                ['id', 'type', 'status', 'attempts', 'owner', 'created'],
                ...items.map((j) => [
                  j.id,
                  j.type,
                  j.status,
                  `${j.attempts}/${j.maxAttempts}`,
                  j.owner,
                  j.createdAt,
                ]),
              ]) + (page.nextCursor ? `\nmore: --cursor ${page.nextCursor}` : ''),
        )
        return 0
      }
      case 'show': {
        const record = await store.get(id!)
        if (!record) return fail(`no job ${id}`, 1)
        const view = jobView(record)
        out(view, JSON.stringify(view, null, 2))
        return 0
      }
      case 'cancel': {
        const outcome = await store.requestCancel(id!)
        if (outcome === 'not_found') return fail(`no job ${id}`, 1)
        if (outcome === 'finished') return fail(`job ${id} already finished; nothing to cancel`, 1)
        out(
          { id, outcome },
          outcome === 'cancelled'
            ? `cancelled ${id}; it will not run`
            : `asked the worker running ${id} to stop it`,
        )
        return 0
      }
      default:
        return fail('jobs needs list, show <id> or cancel <id>', 2)
    }
  } catch (err) {
    if (err instanceof StoreUnavailableError) return fail(err.message, 1)
    throw err
  } finally {
    await store.close()
  }
}
