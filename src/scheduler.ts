import { Cron } from 'croner'
import type { Logger } from 'pino'
import { ConfigError } from './errors.ts'
import type { Producer } from './producer.ts'

/** Enqueue `job` with `payload` at every time `cron` names (5 fields, or 6 with seconds; UTC). */
export interface Schedule {
  name: string
  cron: string
  job: string
  payload: unknown
}

/** A schedule as the dashboard lists it: what it enqueues and when it fires next (ISO 8601, UTC). */
export interface ScheduleRun {
  name: string
  cron: string
  job: string
  next: string | null
}

/**
 * When each of `schedules` fires next after `now`, from the schedules themselves (croner), so an API
 * process can answer without running the scheduler. Sorted by next run.
 */
export function nextRuns(schedules: readonly Schedule[], now = new Date()): ScheduleRun[] {
  return schedules
    .map((s) => {
      const cron = new Cron(s.cron, { paused: true, timezone: 'UTC' })
      const next = cron.nextRun(now)
      cron.stop()
      return { name: s.name, cron: s.cron, job: s.job, next: next ? next.toISOString() : null }
    })
    .sort((a, b) => (a.next ?? '9').localeCompare(b.next ?? '9'))
}

/**
 * Turns schedules into enqueued jobs (croner computes the times). The scheduler only enqueues: the
 * worker runs the job with its usual retries and timeouts. Every worker process runs its own
 * scheduler, so a scheduled job must be idempotent (several workers may enqueue the same tick).
 */
export class Scheduler {
  readonly #producer: Producer
  readonly #log: Logger
  readonly #schedules: readonly Schedule[]
  readonly #crons: Cron[] = []

  constructor(options: { producer: Producer; logger: Logger; schedules: readonly Schedule[] }) {
    const problems: string[] = []
    for (const schedule of options.schedules) {
      try {
        new Cron(schedule.cron, { paused: true, timezone: 'UTC' }).stop()
      } catch (err) {
        problems.push(`${schedule.name}: invalid cron "${schedule.cron}": ${(err as Error).message}`)
      }
    }
    if (problems.length > 0) throw new ConfigError('schedules', problems)
    this.#producer = options.producer
    this.#log = options.logger
    this.#schedules = options.schedules
  }

  start(): this {
    for (const schedule of this.#schedules) {
      const cron = new Cron(
        schedule.cron,
        { timezone: 'UTC', protect: true, name: schedule.name },
        async () => {
          try {
            const { id } = await this.#producer.enqueue(schedule.job, schedule.payload as never)
            this.#log.info(
              { schedule: schedule.name, jobId: id, type: schedule.job },
              'scheduled job enqueued',
            )
          } catch (err) {
            this.#log.error(
              { err, schedule: schedule.name, type: schedule.job },
              'scheduled job could not be enqueued',
            )
          }
        },
      )
      this.#crons.push(cron)
    }
    return this
  }

  /** When each schedule fires next. */
  nextRuns(): { name: string; next: Date | null }[] {
    return this.#crons.map((cron) => ({ name: cron.name ?? '', next: cron.nextRun() }))
  }

  stop(): void {
    for (const cron of this.#crons.splice(0)) cron.stop()
  }
}
