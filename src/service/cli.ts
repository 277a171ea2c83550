#!/usr/bin/env node
// `npm run conveyor -- <command>`: look at queues and dead letters from a terminal, and mint API tokens.
// Reads the same settings as `npm start` (environment, .env). The memory queue lives inside its process,
// so with QUEUE_DRIVER=memory use the dashboard (/dashboard) of the running `npm start` instead.
// Errors print one line (`conveyor: ...`) and exit non-zero; CONVEYOR_DEBUG=1 prints the stack too.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { loadConfig } from '../../config/load.ts'
import { deploymentQueues, handlersFromConfig } from '../../handlers/index.ts'
import { createQueue } from '../create-queue.ts'
import { ConfigError, InvalidPayloadError, UnknownJobTypeError } from '../errors.ts'
import { createLogger } from '../logger.ts'
import { Producer } from '../producer.ts'
import { JobRegistry } from '../registry.ts'
import { deadLetters, overview, redrive } from './admin.ts'
import { table } from './cli-format.ts'
import { devSecret } from './dev-secret.ts'

const USAGE = `usage: npm run conveyor -- <command>
  queues                                 depth of every queue the shipped jobs use (and QUEUES=a,b)
  dead-letters <queue> [--limit N]       dead letters, oldest first, with why each one failed
  redrive <queue> [<id> ...]             move dead letters (all, or these ids) back with fresh attempts
  enqueue <type> '<json payload>' [--delay ms]
  token --sub <user> [--email <address>] [--role admin] [--expires 12h]
                                         an API bearer token signed with AUTH_JWT_SECRET (or the
                                         development secret in STORAGE_DIR)
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

// Any error that escapes: one line, not a stack trace.
process.on('uncaughtException', (err) => {
  if (process.env.CONVEYOR_DEBUG) process.stderr.write(`${err.stack}\n`)
  fail(`conveyor: ${err.message}`)
})

let parsed: ReturnType<typeof parseOptions>
try {
  parsed = parseOptions()
} catch (err) {
  fail(`conveyor: ${(err as Error).message}\n${USAGE}`, 2)
}
const { positionals, values } = parsed

function parseOptions() {
  return parseArgs({
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
      sub: { type: 'string' },
      email: { type: 'string' },
      role: { type: 'string' },
      expires: { type: 'string' },
    },
  })
}
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
if (command === 'token') {
  process.stdout.write(`${mintToken(config)}\n`)
  process.exit(0)
}

/** A bearer token for the API, signed the way `npm start` checks them. */
function mintToken(config: ReturnType<typeof loadConfig>): string {
  if (!values.sub) fail(`conveyor: token needs --sub <user>\n${USAGE}`, 2)
  const expiresMs = duration(values.expires ?? '12h')
  if (expiresMs === undefined) fail('conveyor: --expires must look like 30m, 12h or 7d', 2)
  const secret = config.app.jwtSecret ?? devSecret(config.storage.dir).secret
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: expiresMs })
  return sign({
    sub: values.sub,
    ...(values.email ? { email: values.email } : {}),
    ...(values.role ? { role: values.role } : {}),
  })
}

function duration(text: string): number | undefined {
  const match = /^(\d+)(s|m|h|d)$/.exec(text)
  if (!match) return undefined
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd']
  return Number(match[1]) * unit
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

const queue = await createQueue(config, { logger: createLogger({ level: 'warn' }) })
const registry = new JobRegistry()
const producer = new Producer({ queue, registry })
const { jobs } = await handlersFromConfig(config, {
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
  if (!queueNames.includes(name))
    fail(`conveyor: no queue "${name}": use one of ${queueNames.join(', ')} (or list it in QUEUES)`, 2)
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
              ...letters.map((d) => [d.id, d.type, d.attempts, d.at, `${d.code}: ${d.reason}`]),
            ]),
      )
      break
    }
    case 'redrive': {
      const name = queueArg()
      const ids = rest.slice(1)
      const moved = await redrive(queue, name, ids)
      print({ moved }, () => `moved ${moved} dead letter${moved === 1 ? '' : 's'} back to ${name}`)
      if (ids.length > 0 && moved < ids.length) {
        process.exitCode = 1
        process.stderr.write(
          `conveyor: ${ids.length - moved} of the ${ids.length} id${ids.length === 1 ? '' : 's'} given ${ids.length - moved === 1 ? 'is' : 'are'} not a dead letter in ${name} (unknown, or already redriven): check with \`dead-letters ${name}\`\n`,
        )
      }
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
  await queue.close().catch(() => {})
  if (err instanceof InvalidPayloadError || err instanceof UnknownJobTypeError)
    fail(`conveyor: ${err.message}`, 2)
  if (process.env.CONVEYOR_DEBUG) process.stderr.write(`${(err as Error).stack}\n`)
  fail(`conveyor: ${(err as Error).message ?? String(err)}`)
}
await queue.close()
