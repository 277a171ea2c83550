import { readFileSync } from 'node:fs'
import type { Config } from '../config/schema.ts'
import type { Clock } from '../src/clock.ts'
import { ConfigError } from '../src/errors.ts'
import type { JobDefinition } from '../src/job.ts'
import type { Mailer } from '../src/mail/mailer.ts'
import type { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import type { Schedule } from '../src/scheduler.ts'
import { createMailer, createObjectStore } from '../src/services.ts'
import type { ObjectStore } from '../src/storage/object-store.ts'
import { greetJob } from './demo.ts'
import { exportReadyEmailJob, weeklySummaryEmailJob, welcomeEmailJob } from './email/jobs.ts'
import { RecipientLimit } from './email/recipient-limit.ts'
import { EmailSender } from './email/sender.ts'
import { EmailTemplates } from './email/templates.ts'
import { demoUserSource, type UserSource } from './email/users.ts'
import { weeklySummaryFanoutJob, weeklySummarySchedule } from './email/weekly-fanout.ts'
import { activitiesKind } from './exports/activities.ts'
import { exportBuildJob, exportCleanupJob } from './exports/jobs.ts'
import { type ExportKind, ExportKinds } from './exports/kind.ts'
import { DownloadLinks } from './exports/links.ts'
import type { PdfBrand } from './exports/pdf.ts'
import { ExportService } from './exports/service.ts'

export interface HandlerOptions {
  store: ObjectStore
  mailer: Mailer
  /** Enqueues follow-up jobs (build after request, email after build); its registry gets `jobs`. */
  producer: Producer
  /** AUTH_JWT_SECRET: download links are signed with a key derived from it. */
  secret: string
  /** APP_URL: the base of links in emails. */
  appUrl: string
  /** EXPORT_TTL_HOURS, in ms. */
  exportTtlMs: number
  pdfMaxRows: number
  maxActiveExportsPerUser: number
  emailsPerRecipientPerHour: number
  /** BRAND_NAME and BRAND_LOGO (as a data URL): emails and PDF reports carry them. Default: "Conveyor", no logo. */
  brand?: PdfBrand
  /** Export kinds offered. Default: the demo `activities`. */
  kinds?: ExportKind[]
  /** Who gets the weekly summary. Default: a few demo users. */
  users?: UserSource
  clock?: Clock
}

export interface Handlers {
  /** Every job type Conveyor ships; register them all (the entry point and provisioning do). */
  jobs: JobDefinition[]
  /** What the worker's scheduler enqueues. */
  schedules: Schedule[]
  exports: ExportService
  email: EmailSender
}

/** Conveyor's shipped handlers, wired to one set of services. */
export function createHandlers(options: HandlerOptions): Handlers {
  const product = options.brand?.name ?? 'Conveyor'
  const links = new DownloadLinks({ secret: options.secret, appUrl: options.appUrl })
  const exports = new ExportService({
    store: options.store,
    kinds: new ExportKinds(options.kinds ?? [activitiesKind as unknown as ExportKind]),
    producer: options.producer,
    links,
    ttlMs: options.exportTtlMs,
    pdfMaxRows: options.pdfMaxRows,
    maxActivePerUser: options.maxActiveExportsPerUser,
    brand: {
      name: product,
      ...(options.brand?.logo ? { logo: options.brand.logo } : {}),
    },
    // The cap's slots are claims in the job store every process shares (when the producer has one).
    ...(options.producer.ledger ? { claims: options.producer.ledger.store } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  })
  const email = new EmailSender({
    mailer: options.mailer,
    templates: new EmailTemplates({ appUrl: options.appUrl, product }),
    limit: new RecipientLimit(
      options.emailsPerRecipientPerHour,
      options.clock,
      // Counted in the job store every worker shares (when the producer has one).
      options.producer.ledger?.store,
    ),
  })
  const jobs: JobDefinition[] = [
    greetJob,
    exportBuildJob(exports, options.producer),
    exportCleanupJob(exports),
    welcomeEmailJob(email),
    weeklySummaryEmailJob(email),
    exportReadyEmailJob(email, exports),
    weeklySummaryFanoutJob({
      producer: options.producer,
      users: options.users ?? demoUserSource,
      ...(options.clock ? { clock: options.clock } : {}),
    }),
  ] as JobDefinition[]
  const schedules: Schedule[] = [
    { name: 'exports-cleanup', cron: '17 * * * *', job: 'exports.cleanup', payload: {} },
    weeklySummarySchedule,
  ]
  return { jobs, schedules, exports, email }
}

/** The queues a deployment uses: those of `jobs`, plus any listed in `extra` (`QUEUES=a,b`). */
export function deploymentQueues(jobs: Iterable<JobDefinition>, extra = process.env.QUEUES ?? ''): string[] {
  return [...new Set([...new JobRegistry(jobs).queues(), ...extra.split(',').filter(Boolean)])]
}

/** The shipped handlers for a loaded configuration (STORAGE_*, MAIL_*, EXPORT_*). */
export async function handlersFromConfig(
  config: Config,
  options: { producer: Producer; secret: string; appUrl: string; mailer?: Mailer; store?: ObjectStore },
): Promise<Handlers> {
  return createHandlers({
    store: options.store ?? (await createObjectStore(config)),
    mailer: options.mailer ?? (await createMailer(config)),
    producer: options.producer,
    secret: options.secret,
    appUrl: options.appUrl,
    exportTtlMs: config.exports.ttlHours * 3_600_000,
    pdfMaxRows: config.exports.pdfMaxRows,
    maxActiveExportsPerUser: config.exports.maxActivePerUser,
    emailsPerRecipientPerHour: config.mail.perRecipientPerHour,
    brand: {
      name: config.app.brandName,
      ...(config.app.brandLogo ? { logo: readLogo(config.app.brandLogo) } : {}),
    },
  })
}

/** BRAND_LOGO as a data URL for pdfmake; a missing file or one that is not PNG or JPEG stops start-up. */
export function readLogo(path: string): string {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw new ConfigError('configuration', [`BRAND_LOGO: cannot read ${path}: ${(err as Error).message}`])
  }
  const type = bytes.subarray(0, 4).equals(PNG)
    ? 'png'
    : bytes.subarray(0, 3).equals(JPEG)
      ? 'jpeg'
      : undefined
  if (!type) throw new ConfigError('configuration', [`BRAND_LOGO: ${path} is not a PNG or JPEG file`])
  return `data:image/${type};base64,${bytes.toString('base64')}`
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47])
const JPEG = Buffer.from([0xff, 0xd8, 0xff])
