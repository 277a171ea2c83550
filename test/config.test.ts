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

test('config: a cloud driver without AWS_REGION stops start-up with one line naming the setting', () => {
  assert.throws(
    () => loadConfig({ QUEUE_DRIVER: 'sqs', MAIL_DRIVER: 'ses' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      assert.deepEqual(err.problems, [
        'AWS_REGION is required when QUEUE_DRIVER=sqs, MAIL_DRIVER=ses (e.g. AWS_REGION=eu-west-1)',
      ])
      return true
    },
  )
  assert.throws(
    () => loadConfig({ STORAGE_DRIVER: 's3' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.includes('S3_BUCKET is required when STORAGE_DRIVER=s3') &&
      err.problems.includes('AWS_REGION is required when STORAGE_DRIVER=s3 (e.g. AWS_REGION=eu-west-1)'),
  )
  assert.equal(loadConfig({ QUEUE_DRIVER: 'sqs', AWS_REGION: 'eu-west-1' }).aws.region, 'eu-west-1')
})

test('config: MAIL_DRIVER=smtp needs SMTP_URL, which must be an smtp:// or smtps:// URL', () => {
  assert.throws(
    () => loadConfig({ MAIL_DRIVER: 'smtp' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.startsWith('SMTP_URL is required when MAIL_DRIVER=smtp')),
  )
  assert.throws(
    () => loadConfig({ MAIL_DRIVER: 'smtp', SMTP_URL: 'http://relay' }),
    (err: unknown) =>
      err instanceof ConfigError && err.problems.some((p) => p.startsWith('SMTP_URL must look like smtp://')),
  )
  const config = loadConfig({ MAIL_DRIVER: 'smtp', SMTP_URL: 'smtp://u:p@relay.example:587' })
  assert.equal(config.mail.smtpRequireTls, true)
  assert.equal(config.mail.smtpMaxSendRate, 10)
  assert.equal(loadConfig({ SMTP_REQUIRE_TLS: 'false' }).mail.smtpRequireTls, false)
})

test('config: STORAGE_DRIVER=gcs needs GCS_BUCKET, a valid bucket name', () => {
  assert.throws(
    () => loadConfig({ STORAGE_DRIVER: 'gcs' }),
    (err: unknown) =>
      err instanceof ConfigError && err.problems.includes('GCS_BUCKET is required when STORAGE_DRIVER=gcs'),
  )
  assert.throws(
    () => loadConfig({ STORAGE_DRIVER: 'gcs', GCS_BUCKET: 'Not A Bucket' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.startsWith('GCS_BUCKET must be a valid Cloud Storage bucket name')),
  )
  const config = loadConfig({ STORAGE_DRIVER: 'gcs', GCS_BUCKET: 'conveyor-files' })
  assert.equal(config.storage.gcsBucket, 'conveyor-files')
  assert.equal(config.storage.gcsLocation, 'US')
})
