import { randomUUID } from 'node:crypto'
import { Cron } from 'croner'
import type { Logger } from 'pino'
import { MemoryJobStore } from '../adapters/memory/job-store.ts'
import { type Clock, systemClock, type TimerHandle } from './clock.ts'
import { ConfigError } from './errors.ts'
import type { Producer } from './producer.ts'
import { type JobRecord, type JobStore, TERMINAL_STATUSES } from './store/job-store.ts'

/** Enqueue `job` with `payload` at every time `cron` names (5 fields, or 6 with seconds; UTC). */
export interface Schedule {
  name: string
  cron: string
  job: string
  /**
   * The job's payload, or a function of the tick's time (UTC) that makes it, e.g. the week a weekly job
   * is about, so a late or repeated run of one tick still enqueues the same payload. A run by hand
   * passes the time of the run.
   */
  payload: unknown | ((tick: Date) => unknown)
  /**
   * `skip` (default): a tick enqueues nothing while the schedule's previous run is still queued, delayed,
   * running or retrying (read from that run's job record, so the job type must be tracked). `allow`:
   * every tick enqueues.
   */
  overlap?: 'skip' | 'allow'
  /**
   * After every scheduler of the deployment was down over one or more ticks: `none` (default) forgets
   * them; `latest` runs the latest missed tick once, when a scheduler starts again.
   */
  catchUp?: 'none' | 'latest'
}

/** What one tick of one schedule came to, in this process. */
export interface TickEvent {
  schedule: string
  /** The tick's time (epoch ms, UTC): the same in every process. */
  tick: number
  /**
   * `enqueued`: this process won the tick and enqueued `jobId`. `taken`: another process won it.
   * `skipped`: the previous run (`jobId`) is still under way (overlap `skip`). `failed`: see `error`.
   */
  outcome: 'enqueued' | 'taken' | 'skipped' | 'failed'
  /** A tick fired late by catch-up, at start. */
  catchUp?: boolean
  jobId?: string
  error?: unknown
}

export interface SchedulerOptions {
  producer: Producer
  logger: Logger
  schedules: readonly Schedule[]
  /**
   * Where ticks are claimed and runs are looked up: the store every scheduler process of the deployment
   * shares. Default: the producer's ledger store; without a ledger, a store private to this process
   * (then each process fires every tick, and overlap and catch-up see nothing).
   */
  store?: JobStore
  clock?: Clock
}

/** The longest timer Node keeps (about 24.8 days); longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1

interface Entry {
  schedule: Schedule
  cron: Cron
  /** The tick the timer waits for (epoch ms). */
  next: number | undefined
  timer: TimerHandle | undefined
}

/**
 * Turns schedules into enqueued jobs, once per tick across any number of processes running a scheduler
 * over the same store. The scheduler only enqueues: the worker runs the job with its usual retries and
 * timeouts. Times are UTC; croner computes them; timers go through the Clock.
 *
 * For each tick T of schedule S, every process:
 * 1. claims `schedule:<S>:<T>` in the store (TTL: twice the schedule's interval, at least an hour);
 *    exactly one process wins, the others are done (`taken`);
 * 2. with overlap `skip`, looks up S's newest run (the job records owned by `schedule:<S>`) and skips the
 *    tick while that run is unfinished;
 * 3. enqueues the job with the idempotency key `schedule:<S>:<T>` and owner `schedule:<S>`, so even a
 *    claim that expired early cannot enqueue the tick twice.
 * Catch-up `latest`: at start, if S's newest run was created before S's latest tick, that tick was
 * missed by every scheduler and goes through the same three steps (so starting several processes at
 * once still fires it once). A schedule that never ran has nothing to catch up.
 */
export class Scheduler {
  readonly #producer: Producer
  readonly #log: Logger
  readonly #entries: Entry[]
  readonly #store: JobStore
  readonly #ownsStore: boolean
  readonly #clock: Clock
  readonly #instance = randomUUID()
  readonly #pending = new Set<Promise<unknown>>()
  readonly #listeners = new Set<(event: TickEvent) => void>()
  #running = false

  constructor(options: SchedulerOptions) {
    const problems: string[] = []
    const seen = new Set<string>()
    for (const schedule of options.schedules) {
      if (seen.has(schedule.name)) problems.push(`${schedule.name}: a second schedule with this name`)
      seen.add(schedule.name)
      try {
        new Cron(schedule.cron, { paused: true, timezone: 'UTC' }).stop()
      } catch (err) {
        problems.push(`${schedule.name}: invalid cron "${schedule.cron}": ${(err as Error).message}`)
      }
      if (schedule.overlap && !['skip', 'allow'].includes(schedule.overlap))
        problems.push(`${schedule.name}: overlap must be "skip" or "allow", not "${schedule.overlap}"`)
      if (schedule.catchUp && !['none', 'latest'].includes(schedule.catchUp))
        problems.push(`${schedule.name}: catchUp must be "none" or "latest", not "${schedule.catchUp}"`)
    }
    if (problems.length > 0) throw new ConfigError('schedules', problems)
    this.#producer = options.producer
    this.#log = options.logger
    this.#clock = options.clock ?? systemClock
    const store = options.store ?? options.producer.ledger?.store
    this.#ownsStore = !store
    this.#store = store ?? new MemoryJobStore({}, { clock: this.#clock })
    this.#entries = options.schedules.map((schedule) => ({
      schedule,
      cron: new Cron(schedule.cron, { paused: true, timezone: 'UTC' }),
      next: undefined,
      timer: undefined,
    }))
  }

  /** Arms every schedule's timer and runs the catch-up of `latest` schedules. */
  start(): this {
    if (this.#running) return this
    this.#running = true
    const now = this.#clock.now()
    for (const entry of this.#entries) {
      this.#arm(entry, now)
      if (entry.schedule.catchUp === 'latest') this.#track(this.#catchUp(entry, now))
    }
    return this
  }

  /** Stops the timers (a tick already being enqueued finishes; `settled()` waits for it). */
  stop(): void {
    this.#running = false
    for (const entry of this.#entries) {
      if (entry.timer) this.#clock.clearTimer(entry.timer)
      entry.timer = undefined
    }
    if (this.#ownsStore) void this.#store.close()
  }

  /** Subscribes to every tick's outcome in this process; returns the unsubscribe function. */
  onTick(listener: (event: TickEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Resolves when every tick under way in this process has finished (tests await it after moving time). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
  }

  /** The schedules with their next run (ISO 8601, UTC), soonest first. */
  list(): {
    name: string
    cron: string
    job: string
    overlap: 'skip' | 'allow'
    catchUp: 'none' | 'latest'
    nextRunAt: string | null
  }[] {
    const now = new Date(this.#clock.now())
    return this.#entries
      .map(({ schedule: s, cron }) => {
        const next = cron.nextRun(now)
        return {
          name: s.name,
          cron: s.cron,
          job: s.job,
          overlap: s.overlap ?? 'skip',
          catchUp: s.catchUp ?? 'none',
          nextRunAt: next ? next.toISOString() : null,
        }
      })
      .sort((a, b) => (a.nextRunAt ?? '9').localeCompare(b.nextRunAt ?? '9'))
  }

  /** When each schedule fires next (the running timers; none once stopped). */
  nextRuns(): { name: string; next: Date | null }[] {
    if (!this.#running) return []
    return this.#entries.map((e) => ({ name: e.schedule.name, next: e.next ? new Date(e.next) : null }))
  }

  /**
   * Runs schedule `name` now (CLI `schedules run`, admin API), whatever its cron and overlap: enqueues its
   * job once, owned by the schedule. Resolves to the job id, or undefined for an unknown name.
   */
  async run(name: string): Promise<string | undefined> {
    const entry = this.#entries.find((e) => e.schedule.name === name)
    if (!entry) return undefined
    const { schedule } = entry
    const envelope = await this.#producer.enqueue(
      schedule.job,
      payloadFor(schedule, this.#clock.now()) as never,
      { owner: ownerOf(schedule.name) },
    )
    this.#log.info({ schedule: name, jobId: envelope.id, type: schedule.job }, 'schedule run by hand')
    return envelope.id
  }

  #arm(entry: Entry, after: number): void {
    if (!this.#running) return
    const next = entry.cron.nextRun(new Date(after))
    entry.next = next ? next.getTime() : undefined
    if (entry.next === undefined) return
    entry.timer = this.#clock.setTimer(
      () => this.#wake(entry),
      Math.min(MAX_TIMER_MS, entry.next - this.#clock.now()),
    )
  }

  #wake(entry: Entry): void {
    entry.timer = undefined
    if (!this.#running || entry.next === undefined) return
    const now = this.#clock.now()
    const tick = entry.next
    if (now < tick) {
      // A wait longer than one timer allows, or a timer that fired early: wait for the rest.
      entry.timer = this.#clock.setTimer(() => this.#wake(entry), Math.min(MAX_TIMER_MS, tick - now))
      return
    }
    this.#track(this.#fire(entry, tick, false))
    // After a long pause (a suspended process), the ticks in between are not fired one by one.
    this.#arm(entry, Math.max(tick, now))
  }

  async #catchUp(entry: Entry, now: number): Promise<void> {
    const [latest] = entry.cron.previousRuns(1, new Date(now))
    if (!latest) return
    try {
      const last = await this.#lastRun(entry.schedule.name)
      if (!last || last.createdAt >= latest.getTime()) return
    } catch (err) {
      this.#log.error({ err, schedule: entry.schedule.name }, 'catch-up could not read the last run')
      return
    }
    await this.#fire(entry, latest.getTime(), true)
  }

  async #fire(entry: Entry, tick: number, catchUp: boolean): Promise<void> {
    const { schedule } = entry
    const key = `schedule:${schedule.name}:${tick}`
    const base = { schedule: schedule.name, tick, ...(catchUp ? { catchUp } : {}) }
    let won = false
    try {
      const ttlMs = this.#claimTtl(entry, tick)
      const claim = await this.#store.claim(key, this.#instance, ttlMs)
      if (!claim.won) return this.#emit({ ...base, outcome: 'taken' })
      won = true
      if ((schedule.overlap ?? 'skip') === 'skip') {
        const last = await this.#lastRun(schedule.name)
        if (last && !TERMINAL_STATUSES.includes(last.status)) {
          this.#log.info(
            {
              schedule: schedule.name,
              tick: new Date(tick).toISOString(),
              jobId: last.id,
              status: last.status,
            },
            'schedule tick skipped: the previous run is still under way',
          )
          return this.#emit({ ...base, outcome: 'skipped', jobId: last.id })
        }
      }
      // The idempotency key lives as long as the tick's claim (not the default day: every-second schedules).
      const keyed = this.#producer.ledger ? { key, keyTtlMs: ttlMs } : {}
      const envelope = await this.#producer.enqueue(schedule.job, payloadFor(schedule, tick) as never, {
        ...keyed,
        owner: ownerOf(schedule.name),
      })
      this.#log.info(
        {
          schedule: schedule.name,
          tick: new Date(tick).toISOString(),
          jobId: envelope.id,
          type: schedule.job,
          catchUp,
        },
        'scheduled job enqueued',
      )
      this.#emit({ ...base, outcome: 'enqueued', jobId: envelope.id })
    } catch (err) {
      // Give the tick back, so a retry (another process's catch-up, a restart) may still fire it.
      if (won) await this.#store.release(key, this.#instance).catch(() => undefined)
      this.#log.error(
        { err, schedule: schedule.name, type: schedule.job, tick: new Date(tick).toISOString() },
        'scheduled job could not be enqueued',
      )
      this.#emit({ ...base, outcome: 'failed', error: err })
    }
  }

  /** The schedule's newest run (by creation), from the job records it owns. */
  async #lastRun(name: string): Promise<JobRecord | undefined> {
    const page = await this.#store.list({ owner: ownerOf(name), limit: 1 })
    return page.items[0]
  }

  /** A tick's claim outlives every process that could still try it: two intervals, at least an hour. */
  #claimTtl(entry: Entry, tick: number): number {
    const following = entry.cron.nextRun(new Date(tick))
    const interval = following ? following.getTime() - tick : 0
    return Math.max(3_600_000, 2 * interval)
  }

  #track(work: Promise<void>): void {
    this.#pending.add(work)
    void work.finally(() => this.#pending.delete(work))
  }

  #emit(event: TickEvent): void {
    for (const listener of this.#listeners) listener(event)
  }
}

function payloadFor(schedule: Schedule, tick: number): unknown {
  return typeof schedule.payload === 'function' ? schedule.payload(new Date(tick)) : schedule.payload
}

/** The owner of a schedule's job records (admins see them; no user's token has this `sub`). */
export function ownerOf(schedule: string): string {
  return `schedule:${schedule}`
}
