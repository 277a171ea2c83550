import assert from 'node:assert/strict'
import { test } from 'node:test'
import { describeSettings, loadConfig } from '../config/index.ts'
import { ConfigError } from '../src/errors.ts'

test('config: the defaults need no environment at all', () => {
  const config = loadConfig({})
  assert.equal(config.queue.driver, 'memory')
  assert.equal(config.worker.concurrency, 16)
  assert.equal(config.log.level, 'info')
})

test('config: variables are converted to their types', () => {
  const config = loadConfig({
    WORKER_CONCURRENCY: '64',
    QUEUE_WEIGHTS: 'critical:6,low:1',
    LOG_LEVEL: 'debug',
  })
  assert.equal(config.worker.concurrency, 64)
  assert.equal(config.worker.weights, 'critical:6,low:1')
})

test('config: every problem is listed, each naming its variable', () => {
  assert.throws(
    () =>
      loadConfig({
        QUEUE_DRIVER: 'redis',
        WORKER_CONCURRENCY: 'lots',
        MEMORY_QUEUE_CAPACITY: '0',
        QUEUE_WEIGHTS: 'a=1',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      assert.deepEqual(err.problems, [
        'QUEUE_DRIVER must be one of memory, sqs, pubsub (got "redis")',
        'MEMORY_QUEUE_CAPACITY must be >= 1 (got 0)',
        'WORKER_CONCURRENCY must be an integer (got "lots")',
        'QUEUE_WEIGHTS must look like name:weight,name:weight (got "a=1")',
      ])
      return true
    },
  )
})

test('config: every setting documents its variable, default and purpose', () => {
  for (const s of describeSettings()) {
    assert.match(s.env, /^[A-Z][A-Z0-9_]+$/)
    assert.ok(s.description.length > 10, `${s.env} needs a description`)
  }
})

test('config: production needs a real JWT secret; a short one is refused', () => {
  assert.throws(
    () => loadConfig({ NODE_ENV: 'production' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.includes('AUTH_JWT_SECRET is required when NODE_ENV=production'),
  )
  assert.throws(
    () => loadConfig({ AUTH_JWT_SECRET: 'short' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.startsWith('AUTH_JWT_SECRET must be at least 32 characters')),
  )
  assert.equal(
    loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(32) }).app.jwtSecret,
    'x'.repeat(32),
  )
})

test('config: export and mail settings have defaults and are checked like the rest', () => {
  const config = loadConfig({})
  assert.equal(config.exports.ttlHours, 168)
  assert.equal(config.exports.pdfMaxRows, 20_000)
  assert.equal(config.exports.maxActivePerUser, 3)
  assert.equal(config.mail.perRecipientPerHour, 10)
  assert.equal(config.app.url, undefined)
  assert.equal(config.app.brandName, 'Conveyor')
  assert.equal(config.app.brandLogo, undefined)
  assert.equal(loadConfig({ BRAND_NAME: 'Acme Fitness' }).app.brandName, 'Acme Fitness')
  assert.throws(
    () =>
      loadConfig({
        EXPORT_TTL_HOURS: '0',
        EXPORT_PDF_MAX_ROWS: 'many',
        APP_URL: 'ftp://files.example.com',
        MAIL_PER_RECIPIENT_PER_HOUR: '0',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      const text = err.problems.join('\n')
      assert.match(text, /^APP_URL must be an http\(s\) URL/m)
      assert.match(text, /^EXPORT_TTL_HOURS must be > 0/m)
      assert.match(text, /^EXPORT_PDF_MAX_ROWS must be an integer/m)
      assert.match(text, /^MAIL_PER_RECIPIENT_PER_HOUR must be >= 1/m)
      assert.equal(err.problems.length, 4)
      return true
    },
  )
})
