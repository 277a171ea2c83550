import Type, { type Static, type TSchema } from 'typebox'
import { MemoryOptionsSchema } from '../adapters/memory/options.ts'
import { PubSubOptionsSchema } from '../adapters/pubsub/options.ts'
import { SqsOptionsSchema } from '../adapters/sqs/options.ts'
import { WorkerSettingsSchema } from '../src/worker-options.ts'

/**
 * Every setting Conveyor reads, in one schema. Each leaf names its environment variable (`env`), its
 * default and what it does; `loadConfig` reads the variables, converts, fills defaults and reports every
 * problem at once. The README's settings table is this file.
 */
function env<T extends TSchema>(name: string, schema: T, description: string): T {
  // Copy with descriptors: TypeBox marks its kind with a non-enumerable key that a spread would drop.
  const copy = Object.create(Object.getPrototypeOf(schema), Object.getOwnPropertyDescriptors(schema)) as T
  return Object.assign(copy, { env: name, description })
}

const WEIGHTS_PATTERN = '^$|^[A-Za-z0-9_-]+:[0-9]+(,[A-Za-z0-9_-]+:[0-9]+)*$'

export const ConfigSchema = Type.Object({
  app: Type.Object({
    role: env(
      'CONVEYOR_ROLE',
      Type.Enum(['all', 'api', 'worker'], { default: 'all' }),
      'What this process runs: `all` (API and worker), `api` or `worker`. `npm start -- api` overrides it.',
    ),
    env: env('NODE_ENV', Type.String({ default: 'development' }), '`production` requires AUTH_JWT_SECRET.'),
    host: env('HOST', Type.String({ minLength: 1, default: '127.0.0.1' }), 'Address the API listens on.'),
    port: env(
      'PORT',
      Type.Integer({ minimum: 0, maximum: 65_535, default: 3000 }),
      'Port the API listens on.',
    ),
    rateLimitPerMinute: env(
      'RATE_LIMIT_PER_MINUTE',
      Type.Integer({ minimum: 1, maximum: 1_000_000, default: 120 }),
      'API requests per user per minute on /v1; more get 429 with Retry-After.',
    ),
    url: env(
      'APP_URL',
      Type.Optional(
        Type.String({ pattern: '^https?://[^/]+(/.*)?$', errorMessage: 'must be an http(s) URL' }),
      ),
      'Public base URL of the API, used in links in emails. Default: `http://HOST:PORT`.',
    ),
    jwtSecret: env(
      'AUTH_JWT_SECRET',
      Type.Optional(Type.String({ minLength: 32, errorMessage: 'must be at least 32 characters' })),
      'HS256 secret for API bearer tokens. Unset in development: one is made once and kept in STORAGE_DIR/dev-jwt-secret, and a demo token printed.',
    ),
    brandName: env(
      'BRAND_NAME',
      Type.String({ minLength: 1, maxLength: 80, default: 'Conveyor' }),
      'Product name in the header and footer of emails and atop PDF reports.',
    ),
    brandLogo: env(
      'BRAND_LOGO',
      Type.Optional(Type.String({ minLength: 1 })),
      'Path of a PNG or JPEG shown atop PDF reports, read once at start-up. Default: none (the name only).',
    ),
  }),
  queue: Type.Object({
    driver: env(
      'QUEUE_DRIVER',
      Type.Enum(['memory', 'sqs', 'pubsub'], { default: 'memory' }),
      'Queue backend: `memory` (needs nothing; not durable), `sqs` or `pubsub`.',
    ),
  }),
  memory: Type.Object({
    capacity: env(
      'MEMORY_QUEUE_CAPACITY',
      MemoryOptionsSchema.properties.capacity,
      'Memory driver: most messages per queue (ready + delayed + in flight). Default 100000.',
    ),
  }),
  aws: Type.Object({
    region: env(
      'AWS_REGION',
      Type.Optional(Type.String({ minLength: 1 })),
      'AWS region for SQS, S3 and SES. Default: the AWS SDK chain.',
    ),
  }),
  sqs: Type.Object({
    endpoint: env(
      'AWS_ENDPOINT_URL_SQS',
      Type.Optional(SqsOptionsSchema.properties.endpoint),
      'SQS endpoint override, e.g. an emulator (`npm run emulators` prints one). Default: AWS.',
    ),
    queuePrefix: env(
      'SQS_QUEUE_PREFIX',
      SqsOptionsSchema.properties.queuePrefix,
      'Prefix of every SQS queue name, e.g. `prod-`.',
    ),
    waitTimeSeconds: env(
      'SQS_WAIT_TIME_SECONDS',
      SqsOptionsSchema.properties.waitTimeSeconds,
      'Long-poll wait, 0-20 s.',
    ),
    autoCreate: env(
      'SQS_AUTO_CREATE',
      SqsOptionsSchema.properties.autoCreate,
      'Create missing queues and DLQs on first use.',
    ),
    maxReceiveCount: env(
      'SQS_MAX_RECEIVE_COUNT',
      SqsOptionsSchema.properties.maxReceiveCount,
      "RedrivePolicy maxReceiveCount for queues Conveyor creates (keep it above every job's maxAttempts).",
    ),
    requestTimeoutMs: env(
      'SQS_REQUEST_TIMEOUT_MS',
      SqsOptionsSchema.properties.requestTimeoutMs,
      'Deadline of every SQS call (the long poll gets its wait on top): a stalled SQS is a 503 within it.',
    ),
    claimCheckBytes: env(
      'SQS_CLAIM_CHECK_BYTES',
      SqsOptionsSchema.properties.claimCheckBytes,
      'Message bodies above this go to S3_BUCKET with a pointer in the message.',
    ),
  }),
  pubsub: Type.Object({
    projectId: env(
      'GOOGLE_CLOUD_PROJECT',
      Type.Optional(PubSubOptionsSchema.properties.projectId),
      'Google Cloud project for Pub/Sub and Cloud Storage. Default: from the credentials. (PUBSUB_EMULATOR_HOST points the client at an emulator.)',
    ),
    topicPrefix: env(
      'PUBSUB_TOPIC_PREFIX',
      PubSubOptionsSchema.properties.topicPrefix,
      'Prefix of every topic and subscription name.',
    ),
    group: env(
      'PUBSUB_GROUP',
      PubSubOptionsSchema.properties.group,
      'Consumer group: workers in one group share the work (one subscription each).',
    ),
    autoCreate: env(
      'PUBSUB_AUTO_CREATE',
      PubSubOptionsSchema.properties.autoCreate,
      'Create missing topics and subscriptions on first use.',
    ),
    requestTimeoutMs: env(
      'PUBSUB_REQUEST_TIMEOUT_MS',
      PubSubOptionsSchema.properties.requestTimeoutMs,
      'Deadline of a send and of the calls Conveyor makes itself: a stalled Pub/Sub is a 503 within it.',
    ),
    pullWaitMs: env(
      'PUBSUB_PULL_WAIT_MS',
      PubSubOptionsSchema.properties.pullWaitMs,
      'How long a pull waits for messages before answering empty. Stopping a worker lets the pull under way finish, so it can take this long.',
    ),
    maxDeliveryAttempts: env(
      'PUBSUB_MAX_DELIVERY_ATTEMPTS',
      PubSubOptionsSchema.properties.maxDeliveryAttempts,
      "Dead-letter policy max delivery attempts, 5-100 (keep it above every job's maxAttempts).",
    ),
  }),
  storage: Type.Object({
    driver: env(
      'STORAGE_DRIVER',
      Type.Enum(['fs', 's3', 'gcs'], { default: 'fs' }),
      'Where files go: `fs` (STORAGE_DIR), `s3` (S3_BUCKET) or `gcs` (GCS_BUCKET).',
    ),
    dir: env(
      'STORAGE_DIR',
      Type.String({ minLength: 1, default: './var' }),
      'Folder for files, the outbox and export records with the fs driver.',
    ),
    bucket: env(
      'S3_BUCKET',
      Type.Optional(
        Type.String({
          pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
          errorMessage: 'must be a valid S3 bucket name',
        }),
      ),
      'S3 bucket for files (STORAGE_DRIVER=s3) and for SQS claim checks.',
    ),
    gcsBucket: env(
      'GCS_BUCKET',
      Type.Optional(
        Type.String({
          pattern: '^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$',
          errorMessage: 'must be a valid Cloud Storage bucket name',
        }),
      ),
      'Cloud Storage bucket for files (STORAGE_DRIVER=gcs) and for Pub/Sub claim checks. Credentials: Application Default Credentials; STORAGE_EMULATOR_HOST points the client at an emulator.',
    ),
    gcsSignedUrls: env(
      'GCS_SIGNED_URLS',
      Type.Boolean({ default: true }),
      'Downloads from GCS_BUCKET are V4-signed URLs (the identity needs to sign: a key file, or roles/iam.serviceAccountTokenCreator on itself); `false`: the API streams files itself.',
    ),
    gcsLocation: env(
      'GCS_LOCATION',
      Type.String({ minLength: 2, default: 'US' }),
      '`npm run provision`: where a new GCS_BUCKET is created (a region such as `europe-west1`, or `US`/`EU`). Default US.',
    ),
    s3Endpoint: env(
      'AWS_ENDPOINT_URL_S3',
      Type.Optional(Type.String({ pattern: '^https?://', errorMessage: 'must be an http(s) URL' })),
      'S3 endpoint override (an emulator). Default: AWS.',
    ),
  }),
  exports: Type.Object({
    ttlHours: env(
      'EXPORT_TTL_HOURS',
      Type.Number({ exclusiveMinimum: 0, maximum: 24 * 366, default: 168 }),
      'Hours an export can be downloaded; then it reads `expired` and the cleanup job deletes it.',
    ),
    pdfMaxRows: env(
      'EXPORT_PDF_MAX_ROWS',
      Type.Integer({ minimum: 1, maximum: 100_000, default: 20_000 }),
      'Most rows in a PDF export (pdfmake builds the whole document in memory); larger requests get 400 and a pointer to CSV.',
    ),
    maxActivePerUser: env(
      'EXPORT_MAX_ACTIVE_PER_USER',
      Type.Integer({ minimum: 1, maximum: 1000, default: 3 }),
      'Exports one user may have queued or running at once, across every API process (claims in the job store); more get 429.',
    ),
  }),
  mail: Type.Object({
    driver: env(
      'MAIL_DRIVER',
      Type.Enum(['outbox', 'ses', 'smtp'], { default: 'outbox' }),
      'How email leaves: `outbox` (files in STORAGE_DIR/outbox), `ses` (needs AWS_REGION) or `smtp` (needs SMTP_URL).',
    ),
    from: env(
      'MAIL_FROM',
      Type.String({ minLength: 3, default: 'Conveyor <noreply@localhost>' }),
      'Sender address of every email.',
    ),
    sesEndpoint: env(
      'AWS_ENDPOINT_URL_SES',
      Type.Optional(Type.String({ pattern: '^https?://', errorMessage: 'must be an http(s) URL' })),
      'SES endpoint override (an emulator). Default: AWS.',
    ),
    perRecipientPerHour: env(
      'MAIL_PER_RECIPIENT_PER_HOUR',
      Type.Integer({ minimum: 1, maximum: 100_000, default: 10 }),
      'Most emails one address receives per hour, counted in the job store shared by every worker; more are dead-lettered with the reason.',
    ),
    smtpUrl: env(
      'SMTP_URL',
      Type.Optional(
        Type.String({
          pattern: '^smtps?://[^/]+',
          errorMessage: 'must look like smtp://user:pass@host:587 or smtps://user:pass@host:465',
        }),
      ),
      'SMTP relay for MAIL_DRIVER=smtp: `smtp://user:pass@host:587` (STARTTLS) or `smtps://…:465` (TLS); user and password URL-encoded; `?tls.rejectUnauthorized=false` for a self-signed relay.',
    ),
    smtpRequireTls: env(
      'SMTP_REQUIRE_TLS',
      Type.Boolean({ default: true }),
      'With smtp://, refuse to send unless the relay upgrades the connection with STARTTLS. Default true; false only for a local relay.',
    ),
    smtpMaxConnections: env(
      'SMTP_MAX_CONNECTIONS',
      Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
      'Pooled connections to the SMTP relay per process. Default 5.',
    ),
    smtpMaxSendRate: env(
      'SMTP_MAX_SEND_RATE',
      Type.Number({ exclusiveMinimum: 0, maximum: 10_000, default: 10 }),
      "Emails per second through the SMTP relay, at most (your provider's rate). Default 10.",
    ),
    sesMaxSendRate: env(
      'SES_MAX_SEND_RATE',
      Type.Number({ exclusiveMinimum: 0, maximum: 10_000, default: 14 }),
      "Emails per second, at most (your SES account's maximum send rate).",
    ),
  }),
  jobStore: Type.Object({
    driver: env(
      'JOB_STORE',
      Type.Enum(['memory', 'dynamodb', 'firestore'], { default: 'memory' }),
      'Job ledger backend (job records, claims, counters): `memory` (this process only; not durable), `dynamodb` (needs AWS_REGION) or `firestore` (needs FIRESTORE_PROJECT_ID or GOOGLE_CLOUD_PROJECT).',
    ),
    table: env(
      'JOB_STORE_TABLE',
      Type.String({
        pattern: '^[A-Za-z0-9_.-]{3,255}$',
        default: 'conveyor-jobs',
        errorMessage: 'must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)',
      }),
      'DynamoDB table of the job ledger (`npm run provision` creates it). Default `conveyor-jobs`.',
    ),
    dynamodbEndpoint: env(
      'DYNAMODB_ENDPOINT',
      Type.Optional(Type.String({ pattern: '^https?://', errorMessage: 'must be an http(s) URL' })),
      'DynamoDB endpoint override (an emulator such as dynalite). Default: AWS.',
    ),
    firestoreProjectId: env(
      'FIRESTORE_PROJECT_ID',
      Type.Optional(Type.String({ minLength: 1 })),
      'Google Cloud project of the Firestore job ledger. Default: GOOGLE_CLOUD_PROJECT. (FIRESTORE_EMULATOR_HOST points the client at an emulator.)',
    ),
    collectionPrefix: env(
      'FIRESTORE_COLLECTION_PREFIX',
      Type.String({
        pattern: '^[A-Za-z0-9_-]*$',
        default: 'conveyor-',
        errorMessage: 'must be letters, digits, _ or -',
      }),
      'Prefix of the Firestore collections (`<prefix>jobs`, `<prefix>claims`, `<prefix>counters`). Default `conveyor-`.',
    ),
    requestTimeoutMs: env(
      'JOB_STORE_TIMEOUT_MS',
      Type.Integer({ minimum: 100, maximum: 60_000, default: 3_000 }),
      'How long one job store call may take before it fails with StoreUnavailableError. Default 3000.',
    ),
    recordTtlHours: env(
      'JOB_RECORD_TTL_HOURS',
      Type.Number({ exclusiveMinimum: 0, maximum: 24 * 366, default: 168 }),
      'Hours a job record is kept after its last change (after it finishes, for a finished job). Default 168.',
    ),
    resultMaxBytes: env(
      'JOB_RESULT_MAX_BYTES',
      Type.Integer({ minimum: 1, maximum: 300_000, default: 65_536 }),
      "Largest handler result the ledger keeps, as JSON bytes; a larger one fails the write with ResultTooLargeError. Default 65536 (at most 300000: DynamoDB's item limit is 400 KB).",
    ),
  }),
  worker: Type.Object({
    concurrency: env(
      'WORKER_CONCURRENCY',
      WorkerSettingsSchema.properties.concurrency,
      'Handlers running at once, across all queues. Default 16.',
    ),
    leaseMs: env(
      'WORKER_LEASE_MS',
      WorkerSettingsSchema.properties.leaseMs,
      'Lease (visibility timeout) per delivery, extended while a job runs. Default 30000.',
    ),
    shutdownGraceMs: env(
      'SHUTDOWN_GRACE_MS',
      WorkerSettingsSchema.properties.shutdownGraceMs,
      'On SIGTERM, how long running jobs may finish before they are handed back. Default 30000.',
    ),
    weights: env(
      'QUEUE_WEIGHTS',
      Type.String({
        pattern: WEIGHTS_PATTERN,
        default: '',
        errorMessage: 'must look like name:weight,name:weight',
      }),
      'Queue weights as `name:weight,...`, e.g. `critical:6,default:3,low:1`. Default: every queue 1.',
    ),
  }),
  log: Type.Object({
    level: env(
      'LOG_LEVEL',
      Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
      'pino log level. Default info.',
    ),
    format: env(
      'LOG_FORMAT',
      Type.Optional(Type.Enum(['json', 'pretty'])),
      '`json` (one object per line) or `pretty` (readable lines, pino-pretty). Default: `pretty` when stdout is a terminal and NODE_ENV is not `production`, else `json`.',
    ),
  }),
})

export type Config = Static<typeof ConfigSchema>

/** `critical:6,default:3` → { critical: 6, default: 3 }. */
export function parseWeights(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const pair of text.split(',')) {
    if (!pair) continue
    const [name, weight] = pair.split(':')
    out[name!] = Number(weight)
  }
  return out
}
