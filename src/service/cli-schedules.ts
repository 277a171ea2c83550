import type { Config } from '../../config/schema.ts'
import { handlersFromConfig } from '../../handlers/index.ts'
import { createQueue } from '../create-queue.ts'
import { ConfigError } from '../errors.ts'
import { JobLedger } from '../ledger/ledger.ts'
import { createLogger } from '../logger.ts'
import { Producer } from '../producer.ts'
import { JobRegistry } from '../registry.ts'
import { Scheduler } from '../scheduler.ts'
import { createJobStore } from '../store/create-job-store.ts'
import { table } from './cli-format.ts'

/**
 * `npm run conveyor -- schedules list|run <name>`: the deployment's schedules (declared in code with the
 * jobs) with their next run, and running one now. `run` enqueues on the configured queue and records the
 * job, owned by `schedule:<name>`, in JOB_STORE's store. Resolves to the exit code.
 */
export async function schedulesCommand(
  config: Config,
  args: string[],
  flags: { json?: boolean },
): Promise<number> {
  const out = (json: unknown, text: string) =>
    process.stdout.write(flags.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`)
  const fail = (message: string, code: number) => {
    process.stderr.write(`conveyor: ${message}\n`)
    return code
  }
  const [sub, name] = args
  if (sub !== 'list' && sub !== 'run') return fail('usage: schedules list | schedules run <name>', 2)
  if (sub === 'run' && !name) return fail('schedules run needs a schedule name', 2)
  if (sub === 'run' && config.queue.driver === 'memory')
    return fail(
      'QUEUE_DRIVER=memory lives inside the `npm start` process; use its POST /v1/admin/schedules/:name/run',
      1,
    )
  const logger = createLogger({ level: 'warn' })
  const queue = await createQueue(config, { logger })
  let store: Awaited<ReturnType<typeof createJobStore>>
  try {
    store = await createJobStore(config)
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 1)
    throw err
  }
  const registry = new JobRegistry()
  const producer = new Producer({ queue, registry, ledger: new JobLedger({ store, logger }) })
  const handlers = await handlersFromConfig(config, {
    producer,
    secret: config.app.jwtSecret ?? 'the-cli-signs-no-links-the-cli-signs-no-links',
    appUrl: config.app.url ?? 'http://localhost',
  })
  for (const job of handlers.jobs) registry.register(job)
  const scheduler = new Scheduler({ producer, logger, schedules: handlers.schedules })
  try {
    if (sub === 'list') {
      const items = scheduler.list()
      out(
        items,
        table([
          ['schedule', 'cron (UTC)', 'job', 'overlap', 'catch-up', 'next run'],
          ...items.map((s) => [s.name, s.cron, s.job, s.overlap, s.catchUp, s.nextRunAt ?? '-']),
        ]),
      )
      return 0
    }
    const id = await scheduler.run(name!)
    if (!id)
      return fail(
        `no schedule ${name} (${scheduler
          .list()
          .map((s) => s.name)
          .join(', ')})`,
        1,
      )
    out({ id, schedule: name }, `enqueued ${name}: job ${id}`)
    return 0
  } finally {
    scheduler.stop()
    await queue.close()
    await store.close()
  }
}
