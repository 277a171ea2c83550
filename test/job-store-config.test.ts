import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../config/load.ts'
import { ConfigError } from '../src/errors.ts'
import { createJobStore } from '../src/store/create-job-store.ts'

test('job store config: memory by default, with a week of record TTL and a 64 KiB result cap', async () => {
  const config = loadConfig({})
  assert.equal(config.jobStore.driver, 'memory')
  assert.equal(config.jobStore.table, 'conveyor-jobs')
  assert.equal(config.jobStore.recordTtlHours, 168)
  assert.equal(config.jobStore.resultMaxBytes, 65_536)
  const store = await createJobStore(config)
  assert.equal(store.driver, 'memory')
  await store.close()
})

test('job store config: a cloud store without its region or project stops start-up naming the setting', () => {
  assert.throws(
    () => loadConfig({ JOB_STORE: 'dynamodb' }),
    (err) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.startsWith('AWS_REGION is required when JOB_STORE=dynamodb')),
  )
  assert.throws(
    () => loadConfig({ JOB_STORE: 'firestore', JOB_RESULT_MAX_BYTES: '0' }),
    (err) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.startsWith('FIRESTORE_PROJECT_ID (or GOOGLE_CLOUD_PROJECT) is required')) &&
      err.problems.some((p) => p.includes('JOB_RESULT_MAX_BYTES')),
  )
  assert.throws(() => loadConfig({ JOB_STORE: 'redis' }), /JOB_STORE/)
})

test('job store config: JOB_STORE=dynamodb and firestore make those stores from the settings', async () => {
  const dynamo = await createJobStore(
    loadConfig({
      JOB_STORE: 'dynamodb',
      AWS_REGION: 'eu-west-1',
      JOB_STORE_TABLE: 'my-jobs',
      JOB_RECORD_TTL_HOURS: '2',
    }),
  )
  assert.equal(dynamo.driver, 'dynamodb')
  assert.equal(
    (dynamo as unknown as { options: { table: string; recordTtlMs: number } }).options.table,
    'my-jobs',
  )
  assert.equal((dynamo as unknown as { options: { recordTtlMs: number } }).options.recordTtlMs, 7_200_000)
  await dynamo.close()
  const firestore = await createJobStore(loadConfig({ JOB_STORE: 'firestore', FIRESTORE_PROJECT_ID: 'demo' }))
  assert.equal(firestore.driver, 'firestore')
  await firestore.close()
})
