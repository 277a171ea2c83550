// biome-ignore-all lint/suspicious/noExplicitAny: the parsed templates are untyped JSON documents, read field by field
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse as parseHcl } from '@cdktf/hcl2json'
import { PubSub } from '@google-cloud/pubsub'
import Value from 'typebox/value'
import { parse as parseYaml, type ScalarTag } from 'yaml'
import { type PubSubOptions, PubSubOptionsSchema } from '../adapters/pubsub/options.ts'
import { PubSubResources } from '../adapters/pubsub/resources.ts'
import { loadConfig } from '../config/load.ts'
import {
  bucketLifecycle,
  jobCollections,
  jobTable,
  neededQueues,
  s3ObjectActions,
} from '../infra/resources.ts'

// What the code needs, derived from it: the shipped jobs' queues, the bucket rules, the ledger's tables.
const config = loadConfig({})
const queues = await neededQueues(config, '')
const lifecycle = bucketLifecycle(config)
const defaultPubSubOptions = Value.Default(PubSubOptionsSchema, {}) as PubSubOptions
const infra = join(import.meta.dirname, '..', 'infra')

// CloudFormation's short-form intrinsics, as plain objects (the long form they stand for).
const cfnTags: ScalarTag[] = [
  { tag: '!Ref', resolve: (v: string) => ({ Ref: v }) },
  { tag: '!GetAtt', resolve: (v: string) => ({ 'Fn::GetAtt': v.split('.') }) },
  { tag: '!Sub', resolve: (v: string) => ({ 'Fn::Sub': v }) },
]

interface CfnResource {
  Type: string
  Properties: Record<string, any>
}

async function cloudFormation(): Promise<{
  Parameters: Record<string, any>
  Resources: Record<string, CfnResource>
}> {
  return parseYaml(await readFile(join(infra, 'aws', 'conveyor.yaml'), 'utf8'), { customTags: cfnTags })
}

/** Every .tf file of infra/gcp merged into one JSON document (resource type → name → [block]). */
async function terraform(): Promise<{
  resource: Record<string, Record<string, any[]>>
  variable: Record<string, any[]>
}> {
  const dir = join(infra, 'gcp')
  const merged = {
    resource: {} as Record<string, Record<string, any[]>>,
    variable: {} as Record<string, any[]>,
  }
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.tf'))) {
    const json = (await parseHcl(file, await readFile(join(dir, file), 'utf8'))) as typeof merged
    for (const [type, byName] of Object.entries(json.resource ?? {}))
      merged.resource[type] = { ...merged.resource[type], ...byName }
    Object.assign(merged.variable, json.variable ?? {})
  }
  return merged
}

/** A Terraform interpolation as hcl2json renders it: `${expr}`. */
function hcl(expr: string): string {
  return `\${${expr}}`
}

function byType(resources: Record<string, CfnResource>, type: string): [string, CfnResource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type)
}

test('infra: the shipped jobs need the queues both templates declare', () => {
  // Guards the derivation itself: if a job moves queue, this list (and the templates) must follow.
  assert.deepEqual([...queues].sort(), ['default', 'emails', 'exports'])
})

test('aws template: every queue the code needs has its DLQ and a RedrivePolicy to it, and no others', async () => {
  const { Resources } = await cloudFormation()
  const sqs = byType(Resources, 'AWS::SQS::Queue')
  const names = new Map(sqs.map(([id, r]) => [r.Properties.QueueName['Fn::Sub'] as string, id]))
  assert.deepEqual(
    [...names.keys()].sort(),
    queues.flatMap((q) => [`\${Prefix}${q}`, `\${Prefix}${q}-dlq`]).sort(),
  )
  for (const q of queues) {
    const main = Resources[names.get(`\${Prefix}${q}`)!]!
    assert.deepEqual(main.Properties.RedrivePolicy.deadLetterTargetArn, {
      'Fn::GetAtt': [names.get(`\${Prefix}${q}-dlq`), 'Arn'],
    })
    assert.deepEqual(main.Properties.VisibilityTimeout, { Ref: 'LeaseSeconds' })
  }
  // Both roles reach every queue; the worker also every DLQ (it dead-letters with the reason).
  const roles = Object.fromEntries(byType(Resources, 'AWS::IAM::Role'))
  for (const role of ['ApiRole', 'WorkerRole']) {
    const text = JSON.stringify(roles[role]?.Properties.Policies)
    for (const id of names.values()) assert.ok(text.includes(`"${id}","Arn"`), `${role} lacks ${id}`)
  }
})

test('aws template: the bucket has the code’s lifecycle rules, encryption and no public access', async () => {
  const { Resources, Parameters } = await cloudFormation()
  const [[, bucket] = []] = byType(Resources, 'AWS::S3::Bucket')
  assert.ok(bucket, 'a bucket')
  const rules = bucket.Properties.LifecycleConfiguration.Rules as Record<string, any>[]
  assert.deepEqual(
    rules.map((r) => r.Id),
    lifecycle.map((r) => r.id),
  )
  for (const rule of lifecycle) {
    const declared = rules.find((r) => r.Id === rule.id)!
    assert.equal(declared.Status, 'Enabled')
    if (rule.prefix) assert.equal(declared.Prefix, rule.prefix)
    if (rule.abortIncompleteMultipartDays)
      assert.equal(
        declared.AbortIncompleteMultipartUpload.DaysAfterInitiation,
        rule.abortIncompleteMultipartDays,
      )
  }
  assert.equal(Parameters.ExportTtlDays.Default, lifecycle.find((r) => r.id === 'exports')!.days)
  assert.deepEqual(bucket.Properties.PublicAccessBlockConfiguration, {
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  })
  assert.equal(
    bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault
      .SSEAlgorithm,
    'AES256',
  )
  const policy = JSON.stringify(Resources.FilesAndLedgerPolicy?.Properties.PolicyDocument)
  for (const action of s3ObjectActions) assert.ok(policy.includes(`"${action}"`), action)
})

test('aws template: the job ledger table, its IAM and the SES identity are declared', async () => {
  const { Resources, Parameters } = await cloudFormation()
  const [[id, table] = []] = byType(Resources, 'AWS::DynamoDB::Table')
  assert.ok(table && id, 'a DynamoDB table')
  const p = table.Properties
  assert.equal(Parameters[p.TableName.Ref].Default, jobTable.name)
  assert.equal(p.BillingMode, jobTable.billingMode)
  const type = (name: string) =>
    (p.AttributeDefinitions as { AttributeName: string; AttributeType: string }[]).find(
      (a) => a.AttributeName === name,
    )?.AttributeType
  assert.deepEqual(p.KeySchema, [
    { AttributeName: jobTable.partitionKey.name, KeyType: 'HASH' },
    { AttributeName: jobTable.sortKey.name, KeyType: 'RANGE' },
  ])
  assert.equal(type(jobTable.partitionKey.name), jobTable.partitionKey.type)
  assert.equal(type(jobTable.sortKey.name), jobTable.sortKey.type)
  for (const index of jobTable.indexes) {
    const declared = (p.GlobalSecondaryIndexes as Record<string, any>[]).find(
      (g) => g.IndexName === index.name,
    )
    assert.deepEqual(declared?.KeySchema, [
      { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
    ])
    assert.equal(type(index.partitionKey.name), index.partitionKey.type)
    assert.equal(type(index.sortKey.name), index.sortKey.type)
  }
  assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: jobTable.ttlAttribute, Enabled: true })
  const statements = Resources.FilesAndLedgerPolicy!.Properties.PolicyDocument.Statement as Record<
    string,
    any
  >[]
  const ledger = statements.find((s) => JSON.stringify(s.Resource).includes(id))!
  assert.deepEqual([...ledger.Action].sort(), [...jobTable.actions].sort())
  assert.deepEqual(ledger.Resource, [{ 'Fn::GetAtt': [id, 'Arn'] }, { 'Fn::Sub': `\${${id}.Arn}/index/*` }])
  assert.equal(byType(Resources, 'AWS::SES::EmailIdentity').length, 1)
  assert.match(JSON.stringify(Resources.WorkerRole!.Properties.Policies), /ses:SendRawEmail/)
  assert.doesNotMatch(JSON.stringify(Resources.ApiRole!.Properties.Policies), /ses:/, 'only the worker mails')
})

test('gcp terraform: topics, subscriptions with dead-letter and retry policies, DLQs and delay topics match the adapter', async () => {
  const tf = await terraform()
  assert.deepEqual([...tf.variable.queues![0].default].sort(), [...queues].sort())
  const options = { ...defaultPubSubOptions, topicPrefix: '', group: 'workers' }
  const names = new PubSubResources(new PubSub({ projectId: 'parity-test' }), options)
  // Terraform's name templates, rendered as `terraform plan` would with the variables' defaults.
  const render = (template: string, q: string) =>
    template
      .replace(hcl('var.prefix'), '')
      .replace(hcl('each.key'), q)
      .replace(hcl('var.group'), options.group)
  const topic = tf.resource.google_pubsub_topic!
  const sub = tf.resource.google_pubsub_subscription!
  for (const q of queues) {
    const n = names.names(q)
    assert.equal(render(topic.queue![0].name, q), n.topic)
    assert.equal(render(topic.dlq![0].name, q), n.dlqTopic)
    assert.equal(render(topic.delay![0].name, q), n.delayTopic)
    assert.equal(render(sub.queue![0].name, q), n.subscription)
    assert.equal(render(sub.dlq![0].name, q), n.dlqSubscription)
    assert.equal(render(sub.delay![0].name, q), n.delaySubscription)
  }
  const main = sub.queue![0]
  assert.equal(main.topic, hcl('google_pubsub_topic.queue[each.key].id'))
  assert.equal(main.dead_letter_policy[0].dead_letter_topic, hcl('google_pubsub_topic.dlq[each.key].id'))
  assert.equal(main.dead_letter_policy[0].max_delivery_attempts, hcl('var.max_delivery_attempts'))
  assert.equal(tf.variable.max_delivery_attempts![0].default, defaultPubSubOptions.maxDeliveryAttempts)
  assert.ok(main.retry_policy[0].minimum_backoff && main.retry_policy[0].maximum_backoff)
  assert.equal(main.ack_deadline_seconds, hcl('var.lease_seconds'))
  assert.equal(tf.variable.lease_seconds![0].default * 1000, config.worker.leaseMs)
  assert.equal(sub.dlq![0].topic, hcl('google_pubsub_topic.dlq[each.key].id'))
  assert.equal(sub.delay![0].topic, hcl('google_pubsub_topic.delay[each.key].id'))
})

test('gcp terraform: the Pub/Sub service agent may publish dead letters and acknowledge the source', async () => {
  const tf = await terraform()
  const publisher = tf.resource.google_pubsub_topic_iam_member!.dlq_publisher![0]
  assert.equal(publisher.topic, hcl('google_pubsub_topic.dlq[each.key].name'))
  assert.equal(publisher.role, 'roles/pubsub.publisher')
  assert.equal(publisher.member, `serviceAccount:${hcl('local.pubsub_service_agent')}`)
  const subscriber = tf.resource.google_pubsub_subscription_iam_member!.source_subscriber![0]
  assert.equal(subscriber.subscription, hcl('google_pubsub_subscription.queue[each.key].name'))
  assert.equal(subscriber.role, 'roles/pubsub.subscriber')
  assert.equal(subscriber.member, `serviceAccount:${hcl('local.pubsub_service_agent')}`)
  const main = await readFile(join(infra, 'gcp', 'main.tf'), 'utf8')
  assert.match(
    main,
    /service-\$\{data\.google_project\.this\.number\}@gcp-sa-pubsub\.iam\.gserviceaccount\.com/,
  )
})

test('gcp terraform: the bucket carries the code’s lifecycle rules and is private', async () => {
  const tf = await terraform()
  const bucket = tf.resource.google_storage_bucket!.files![0]
  assert.equal(bucket.public_access_prevention, 'enforced')
  assert.equal(bucket.uniform_bucket_level_access, true)
  const declared = (bucket.lifecycle_rule as any[]).map((r) => ({
    type: r.action[0].type,
    age: r.condition[0].age,
    prefix: r.condition[0].matches_prefix?.[0],
  }))
  const exportDays = tf.variable.export_ttl_days![0].default
  assert.deepEqual(
    declared,
    lifecycle.map((r) =>
      r.abortIncompleteMultipartDays
        ? { type: 'AbortIncompleteMultipartUpload', age: r.abortIncompleteMultipartDays, prefix: undefined }
        : { type: 'Delete', age: r.id === 'exports' ? hcl('var.export_ttl_days') : r.days, prefix: r.prefix },
    ),
  )
  assert.equal(exportDays, lifecycle.find((r) => r.id === 'exports')!.days)
})

test('gcp terraform and firestore.indexes.json: the ledger’s composite indexes and TTL field, exactly', async () => {
  const tf = await terraform()
  const indexes = Object.values(tf.resource.google_firestore_index!).map(([i]) => ({
    collection: i.collection,
    fields: (i.fields as { field_path: string; order: string }[]).map((f) => [f.field_path, f.order]),
  }))
  const key = (i: { collection: string; fields: unknown[] }) => JSON.stringify(i)
  assert.deepEqual(indexes.map(key).sort(), jobCollections.indexes.map(key).sort())
  const ttl = Object.values(tf.resource.google_firestore_field!).map(([f]) => f)
  assert.deepEqual(
    ttl.map((f) => [f.collection, f.field, Boolean(f.ttl_config)]),
    [[jobCollections.ttlField.collection, jobCollections.ttlField.field, true]],
  )
  const json = JSON.parse(await readFile(join(infra, 'gcp', 'firestore.indexes.json'), 'utf8')) as {
    indexes: { collectionGroup: string; queryScope: string; fields: { fieldPath: string; order: string }[] }[]
    fieldOverrides: { collectionGroup: string; fieldPath: string; ttl: boolean }[]
  }
  assert.deepEqual(
    json.indexes
      .map((i) => ({ collection: i.collectionGroup, fields: i.fields.map((f) => [f.fieldPath, f.order]) }))
      .map(key)
      .sort(),
    jobCollections.indexes.map(key).sort(),
  )
  assert.deepEqual(
    json.fieldOverrides.map((f) => [f.collectionGroup, f.fieldPath, f.ttl]),
    [[jobCollections.ttlField.collection, jobCollections.ttlField.field, true]],
  )
})

test('gcp terraform: API and worker service accounts with objects-only storage and the ledger role', async () => {
  const tf = await terraform()
  assert.deepEqual(Object.keys(tf.resource.google_service_account!).sort(), ['api', 'worker'])
  const objects = tf.resource.google_storage_bucket_iam_member!.objects![0]
  assert.equal(objects.role, 'roles/storage.objectUser')
  assert.equal(objects.bucket, hcl('google_storage_bucket.files.name'))
  assert.equal(tf.resource.google_project_iam_member!.ledger![0].role, jobCollections.role)
  // No project-wide Pub/Sub or Storage roles: grants are per topic, subscription and bucket.
  const projectRoles = Object.values(tf.resource.google_project_iam_member!).map(([m]) => m.role)
  assert.deepEqual(projectRoles, [jobCollections.role])
})
