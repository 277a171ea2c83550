import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { MissingDependencyError } from '../src/errors.ts'
import { importOptional } from '../src/optional-import.ts'

// The package as a team installs it: `npm pack` (which builds dist/ first), the tarball installed into
// a fresh app outside the repository, a TypeScript consumer type-checked with tsc and run on Node.

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('..', import.meta.url))
const TSC = join(REPO, 'node_modules/.bin/tsc')
// The SDKs, and the modules that import them. (adapters/<cloud>/options.js are TypeBox schemas only: the
// one configuration schema describes every driver's settings.)
const CLOUD_MODULES = /@aws-sdk|@google-cloud|\/adapters\/(sqs|pubsub)\/(?!options\.js$)|s3-store|mail\/ses/

/** What a consumer printed after `RESULT ` (the worker's own JSON logs are around it). */
function lastJson(stdout: string): unknown {
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `no RESULT line in:\n${stdout}`)
  return JSON.parse(line.slice('RESULT '.length))
}

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, maxBuffer: 32 * 1024 * 1024, env: process.env })
    return stdout
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? e.message}`)
  }
}

const JOB_CONSUMER = `
import Type from 'typebox'
import { createQueue, defineJob, loadConfig, NonRetryableError, Producer, Worker } from 'conveyor'
import { JobOutcomes } from 'conveyor/testing'

const done: string[] = []
const greet = defineJob({
  type: 'app.greet',
  queue: 'default',
  schema: Type.Object({ name: Type.String() }),
  async handle({ name }, { signal }) {
    signal.throwIfAborted()
    if (name === '') throw new NonRetryableError('no name')
    done.push(name)
  },
})
const queue = await createQueue(loadConfig({ QUEUE_DRIVER: 'memory' }))
const worker = new Worker({ queue, jobs: [greet], concurrency: 2 }).start()
const outcomes = new JobOutcomes(worker)
const { id } = await new Producer({ queue }).enqueue(greet, { name: 'Ada' })
const outcome = await outcomes.waitFor(id)
await worker.stop()
await queue.close()
// @ts-expect-error: the payload is typed from the schema
void new Producer({ queue }).enqueue(greet, { name: 42 }).catch(() => {})
process.stdout.write('RESULT ' + JSON.stringify({ outcome: outcome.outcome, done }) + '\\n')
`

const CORE_CONSUMER = `
import { createQueue, loadConfig, MissingDependencyError } from 'conveyor'

const driver = process.argv[2] ?? 'memory'
try {
  const queue = await createQueue(loadConfig({ QUEUE_DRIVER: driver, AWS_REGION: 'eu-west-1' }))
  await queue.close()
  process.stdout.write('RESULT ' + JSON.stringify({ driver: queue.driver }) + '\\n')
} catch (err) {
  if (!(err instanceof MissingDependencyError)) throw err
  process.stdout.write('RESULT ' + JSON.stringify({ error: { name: err.name, code: err.code, message: err.message } }) + '\\n')
}
`

// The shipped handlers from the package: the email templates are read from dist/ at run time.
const HANDLERS_CONSUMER = `
import { join } from 'node:path'
import { JobRegistry, MemoryQueue, Producer, Worker } from 'conveyor'
import { createHandlers } from 'conveyor/handlers'
import { OutboxMailer } from 'conveyor/mail'
import { FsObjectStore } from 'conveyor/storage'
import { JobOutcomes } from 'conveyor/testing'

const dir = join(process.cwd(), 'data')
const mailer = new OutboxMailer(join(dir, 'outbox'), 'App <noreply@localhost>')
const queue = new MemoryQueue()
const registry = new JobRegistry()
const handlers = createHandlers({
  store: new FsObjectStore(join(dir, 'files')),
  mailer,
  producer: new Producer({ queue, registry }),
  secret: 'a-secret-that-is-long-enough-for-hs256-signing',
  appUrl: 'http://localhost:3000',
  exportTtlMs: 3_600_000,
  pdfMaxRows: 100,
  maxActiveExportsPerUser: 3,
  emailsPerRecipientPerHour: 10,
})
for (const job of handlers.jobs) registry.register(job)
const worker = new Worker({ queue, jobs: registry }).start()
const outcomes = new JobOutcomes(worker)
await handlers.email.send('welcome', 'ada@example.com', { name: 'Ada' })
// A PDF export: the layout runs on a worker thread whose file is found next to the compiled code.
const record = await handlers.exports.request('ada', { kind: 'activities', format: 'pdf', params: { rows: 5 } })
await outcomes.waitUntil((e) => e.type === 'exports.build' && e.outcome !== 'retry')
const built = await handlers.exports.records.get('ada', record.id)
await worker.stop()
await queue.close()
const subjects = (await mailer.list()).map((m) => m.subject)
process.stdout.write('RESULT ' + JSON.stringify({ subjects, pdf: [built?.status, built?.rows, built?.error] }) + '\\n')
`

// Records every module URL the process resolves (Node's synchronous module hooks), written at exit.
const RECORDER = `
import { registerHooks } from 'node:module'
import { writeFileSync } from 'node:fs'
const urls = []
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context)
    urls.push(result.url)
    return result
  },
})
process.on('exit', () => writeFileSync(process.env.LOADED_FILE, JSON.stringify(urls)))
`

test('package: npm pack, installed in a fresh app, type-checks and runs a job on the memory queue without the cloud SDKs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-package-'))
  t.after(() => rm(dir, { recursive: true, force: true }))

  await sh('npm', ['pack', '--pack-destination', dir, '--silent'], REPO)
  const [tarball] = (await readdir(dir)).filter((f) => f.endsWith('.tgz'))
  assert.ok(tarball, 'npm pack made a tarball')

  const app = join(dir, 'app')
  await mkdir(app)
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({ name: 'conveyor-consumer', private: true, type: 'module' }),
  )
  await sh(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', join(dir, tarball)],
    app,
  )
  // The cloud SDKs are optional peers: a plain install does not bring them.
  assert.equal(existsSync(join(app, 'node_modules/@aws-sdk')), false, 'no @aws-sdk installed')
  assert.equal(existsSync(join(app, 'node_modules/@google-cloud')), false, 'no @google-cloud installed')
  assert.ok(existsSync(join(app, 'node_modules/conveyor/dist/handlers/email/templates/welcome.html.eta')))

  await writeFile(join(app, 'job.ts'), JOB_CONSUMER)
  await writeFile(join(app, 'core.ts'), CORE_CONSUMER)
  await writeFile(join(app, 'handlers.ts'), HANDLERS_CONSUMER)
  // The README's first example, as written, must type-check against the package (it is not run: it
  // posts to billing.example).
  const readme = await readFile(join(REPO, 'README.md'), 'utf8')
  const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.ok(example?.includes("from 'conveyor'"), 'the README starts with an example that imports conveyor')
  await writeFile(join(app, 'readme.ts'), example ?? '')
  await writeFile(join(app, 'recorder.mjs'), RECORDER)
  await writeFile(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2024',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
        // @types/node from the repository, so the app needs no registry for it
        typeRoots: [join(REPO, 'node_modules/@types')],
        types: ['node'],
      },
      files: ['job.ts', 'core.ts', 'handlers.ts', 'readme.ts'],
    }),
  )
  await sh(TSC, ['-p', 'tsconfig.json'], app)

  const job = lastJson(await sh(process.execPath, ['job.ts'], app)) as { outcome: string; done: string[] }
  assert.deepEqual(job, { outcome: 'success', done: ['Ada'] })

  const shipped = lastJson(await sh(process.execPath, ['handlers.ts'], app))
  assert.deepEqual(shipped, {
    subjects: ['Welcome to Conveyor, Ada'], // the eta templates are found in dist/
    pdf: ['completed', 5, null], // the PDF worker thread's file is found in dist/
  })

  // The CLI ships as a bin: it mints a token with the development secret kept in STORAGE_DIR.
  const token = await sh(join(app, 'node_modules/.bin/conveyor'), ['token', '--sub', 'ada'], app)
  assert.match(token.trim(), /^ey[\w-]+\.[\w-]+\.[\w-]+$/)
  assert.ok(existsSync(join(app, 'var/dev-jwt-secret')))

  const loadedFile = join(dir, 'loaded.json')
  const memory = await run(process.execPath, ['--import', './recorder.mjs', 'core.ts'], {
    cwd: app,
    env: { ...process.env, LOADED_FILE: loadedFile },
  })
  assert.deepEqual(lastJson(memory.stdout), { driver: 'memory' })
  const loaded = JSON.parse(await readFile(loadedFile, 'utf8')) as string[]
  assert.ok(
    loaded.some((u) => u.endsWith('/node_modules/conveyor/dist/src/index.js')),
    'the recorder saw the core entry load',
  )
  assert.deepEqual(
    loaded.filter((u) => CLOUD_MODULES.test(u)),
    [],
    'importing the core and running the memory queue loads no cloud SDK or cloud adapter',
  )

  const sqs = lastJson(await sh(process.execPath, ['core.ts', 'sqs'], app))
  assert.deepEqual(sqs, {
    error: {
      name: 'MissingDependencyError',
      code: 'MISSING_DEPENDENCY',
      message: 'install @aws-sdk/client-sqs to use QUEUE_DRIVER=sqs (npm install @aws-sdk/client-sqs)',
    },
  })
})

test('importOptional: a package that is not installed is a MissingDependencyError naming it and what needs it; other failures pass through', async () => {
  await assert.rejects(
    importOptional(() => import('@conveyor-test/not-installed' as string), 'QUEUE_DRIVER=nothing'),
    (err: unknown) =>
      err instanceof MissingDependencyError &&
      err.name === 'MissingDependencyError' &&
      err.code === 'MISSING_DEPENDENCY' &&
      err.packageName === '@conveyor-test/not-installed' &&
      err.message ===
        'install @conveyor-test/not-installed to use QUEUE_DRIVER=nothing (npm install @conveyor-test/not-installed)',
  )
  // A file of our own that is missing is a bug, not a package to install.
  await assert.rejects(
    importOptional(() => import('./no-such-module.ts' as string), 'X'),
    (err: unknown) =>
      !(err instanceof MissingDependencyError) && (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND',
  )
  const boom = new Error('boom')
  await assert.rejects(
    importOptional(() => Promise.reject(boom), 'X'),
    (err: unknown) => err === boom,
  )
})
