// `npm run conveyor -- <command>`: look at queues and dead letters from a terminal. Reads the same
// settings as `npm start` (environment, .env). The memory queue lives inside its process, so with
// QUEUE_DRIVER=memory use the dashboard (/dashboard) of the running `npm start` instead.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config/load.ts'
import { deploymentQueues, handlersFromConfig } from '../handlers/index.ts'
import { deadLetters, overview, redrive } from './admin.ts'
import { table } from './cli-format.ts'
import { createQueue } from './create-queue.ts'
import { ConfigError, InvalidPayloadError, UnknownJobTypeError } from './errors.ts'
import { createLogger } from './logger.ts'
import { Producer } from './producer.ts'
import { JobRegistry } from './registry.ts'

const USAGE = `usage: npm run conveyor -- <command>
  queues                                 depth of every queue the shipped jobs use (and QUEUES=a,b)
  dead-letters <queue> [--limit N]       dead letters, oldest first, with why each one failed
  redrive <queue> [<id> ...]             move dead letters (all, or these ids) back with fresh attempts
  enqueue <type> '<json payload>' [--delay ms]
  jobs list [--status s] [--owner o] [--type t] [--limit N]   job records, newest first (JOB_STORE)
  jobs show <id>                         one job's record: status, attempts, progress, result, error
  jobs cancel <id>                       cancel a job (one not started never runs; a running one is aborted)
  schedules list                         the cron schedules (UTC), their policies and next run
  schedules run <name>                   run a schedule now (enqueue its job once)
options: --json (machine-readable output)`

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`)
  process.exit(code)
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    limit: { type: 'string' },
    delay: { type: 'string' },
    status: { type: 'string' },
    owner: { type: 'string' },
    type: { type: 'string' },
    cursor: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  },
})
const [command, ...rest] = positionals
if (!command || values.help) fail(USAGE, command ? 0 : 2)

if (existsSync('.env')) process.loadEnvFile('.env')
let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  fail(`conveyor: ${err.message}`)
}
if (command === 'jobs') {
  const { jobsCommand } = await import('./cli-jobs.ts')
  process.exit(await jobsCommand(config, rest, values))
}
if (command === 'schedules') {
  const { schedulesCommand } = await import('./cli-schedules.ts')
  process.exit(await schedulesCommand(config, rest, values))
}
if (config.queue.driver === 'memory') {
  fail(
    'conveyor: QUEUE_DRIVER=memory keeps its queues inside the `npm start` process; open its /dashboard, or set QUEUE_DRIVER=sqs|pubsub',
  )
}

const queue = createQueue(config, { logger: createLogger({ level: 'warn' }) })
const registry = new JobRegistry()
const producer = new Producer({ queue, registry })
const { jobs } = handlersFromConfig(config, {
  producer,
  secret: config.app.jwtSecret ?? 'the-cli-signs-no-links-the-cli-signs-no-links',
  appUrl: config.app.url ?? 'http://localhost',
})
for (const job of jobs) registry.register(job)
const queueNames = deploymentQueues(jobs)

function print(json: unknown, text: () => string): void {
  process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : `${text()}\n`)
}

function queueArg(): string {
  const name = rest[0]
  if (!name) fail(`conveyor: ${command} needs a queue name (one of ${queueNames.join(', ')})`, 2)
  return name
}

try {
  switch (command) {
    case 'queues': {
      const rows = await overview(queue, queueNames)
      print(rows, () =>
        table([
          ['queue', 'ready', 'in flight', 'delayed', 'dead letters'],
          ...rows.map((q) => [q.name, q.ready, q.inFlight, q.delayed, q.deadLettered]),
        ]),
      )
      break
    }
    case 'dead-letters': {
      const limit = values.limit ? Number(values.limit) : 50
      if (!Number.isInteger(limit) || limit < 1) fail('conveyor: --limit must be a positive integer', 2)
      const letters = await deadLetters(queue, queueArg(), limit)
      print(letters, () =>
        letters.length === 0
          ? 'no dead letters'
          : table([
              ['id', 'type', 'attempts', 'at', 'why'],
              ...letters.map((d) => [d.id, d.type, d.attempts, d.at, `${d.code}: ${d.message}`]),
            ]),
      )
      break
    }
    case 'redrive': {
      const name = queueArg()
      const moved = await redrive(queue, name, rest.slice(1))
      print({ moved }, () => `moved ${moved} dead letter${moved === 1 ? '' : 's'} back to ${name}`)
      break
    }
    case 'enqueue': {
      const [type, text] = rest
      if (!type || text === undefined) fail(`conveyor: enqueue needs a type and a JSON payload\n${USAGE}`, 2)
      let payload: unknown
      try {
        payload = JSON.parse(text)
      } catch (err) {
        fail(`conveyor: the payload is not valid JSON: ${(err as Error).message}`, 2)
      }
      const delayMs = values.delay ? Number(values.delay) : 0
      if (!Number.isInteger(delayMs) || delayMs < 0) fail('conveyor: --delay must be a whole number of ms', 2)
      const envelope = await producer.enqueue(type, payload as never, delayMs ? { delayMs } : {})
      print({ id: envelope.id, type }, () => `enqueued ${type} ${envelope.id}`)
      break
    }
    default:
      fail(`conveyor: unknown command "${command}"\n${USAGE}`, 2)
  }
} catch (err) {
  if (err instanceof InvalidPayloadError || err instanceof UnknownJobTypeError)
    fail(`conveyor: ${err.message}`, 2)
  throw err
} finally {
  await queue.close()
}
