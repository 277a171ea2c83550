import type { Clock, TimerHandle } from '../clock.ts'
import type { JobProgress } from '../store/job-store.ts'
import type { JobLedger } from './ledger.ts'

/** What the tracker needs of a running attempt (the worker's JobRun). */
export interface TrackedRun {
  readonly id: string
  readonly attempt: number
  readonly startedAt: number
  /**
   * The tracker's own bookkeeping: where the run sits in its list of watched runs, -1 when it is not
   * watched. A run starts at -1 and only its tracker changes it (no set or map lookup per job).
   */
  watchIndex: number
}

/**
 * What to do with a delivery, from its `running` transition: `run` it; it was `cancelled` before it
 * started (ack it, never run it); or it is a `duplicate` of a job that already finished (ack it).
 */
export type StartVerdict = 'run' | 'cancelled' | 'duplicate'

export interface RunTrackerOptions {
  clock: Clock
  /** How often running jobs are checked for a cancel request: the worker's lease-sweep interval. */
  intervalMs: number
  /** Called (once) for a running job someone asked to cancel; the worker aborts it. */
  onCancel: (run: TrackedRun) => void
}

interface ProgressState {
  next: JobProgress | undefined
  flight: Promise<void> | undefined
}

/**
 * The worker's side of the ledger: records each attempt's start and end, its progress, and watches
 * running jobs for cancel requests. The Worker decides; this records and reports.
 *
 * Cancel polling costs nothing for short jobs: one timer every `intervalMs` while jobs run, and at each
 * tick one read per job that was already running at the previous tick (all of them at once). So a
 * cancel reaches a job within one interval once it has run for one interval, and within two of its start
 * otherwise.
 */
export class RunTracker<R extends TrackedRun = TrackedRun> {
  readonly #ledger: JobLedger
  readonly #clock: Clock
  readonly #intervalMs: number
  readonly #onCancel: (run: R) => void
  /** Runs watched for a cancel request; each knows its place (`watchIndex`), so leaving is O(1). */
  readonly #running: R[] = []
  readonly #progress = new WeakMap<R, ProgressState>()
  #timer: TimerHandle | undefined
  #lastTick: number
  #polling = false

  constructor(ledger: JobLedger, options: RunTrackerOptions) {
    this.#ledger = ledger
    this.#clock = options.clock
    this.#intervalMs = options.intervalMs
    this.#onCancel = options.onCancel as (run: R) => void
    this.#lastTick = options.clock.now()
  }

  /**
   * Records `running` and says whether the handler should run. A store that does not answer in time,
   * or has no record of the job, never stops a job: it runs.
   */
  start(run: R, done: (verdict: StartVerdict) => void): void {
    this.#ledger.running(run.id, run.attempt, run.startedAt, (answer) => {
      if (answer && !answer.applied) {
        const status = answer.current?.status
        if (status === 'cancelled') return done('cancelled')
        if (status === 'succeeded' || status === 'failed') return done('duplicate')
        // No record (the store lost it, or it was never written): nothing to watch; run it. Stored as
        // running at this attempt or later: a second delivery of a message in flight elsewhere, or a
        // hand-back that did not count as an attempt. Delivery is at least once: run it.
        if (!answer.current) return done('run')
      }
      if (answer) this.#watch(run)
      done('run')
    })
  }

  // Outcome writes; `done` (optional) is called once the write is stored, failed or timed out.

  succeeded(run: R, result: unknown, done?: () => void): void {
    this.#unwatch(run)
    this.#ledger.succeeded(run.id, run.attempt, result, done)
  }

  retrying(run: R, runAt: number, code: string, message: string, done?: () => void): void {
    this.#unwatch(run)
    this.#ledger.retrying(run.id, run.attempt, runAt, { code, message }, done)
  }

  failed(run: R, code: string, message: string, done?: () => void): void {
    this.#unwatch(run)
    this.#ledger.failed(run.id, run.attempt, { code, message }, done)
  }

  cancelled(run: R, done?: () => void): void {
    this.#unwatch(run)
    this.#ledger.cancelled(run.id, run.attempt, done)
  }

  /** The attempt ended without an outcome to record (handed back at shutdown). */
  forget(run: R): void {
    this.#unwatch(run)
  }

  /** A delivery that never became a run (invalid payload, unknown type): record it failed. */
  rejected(id: string, attempt: number, code: string, message: string): void {
    this.#ledger.failed(id, attempt, { code, message })
  }

  /**
   * Records progress; resolves once it (or a later value) is stored, never rejects. Writes for one run
   * go one at a time, and values reported meanwhile collapse into the latest.
   */
  progress(run: R, percent: number, message?: string): Promise<void> {
    if (typeof percent !== 'number' || Number.isNaN(percent)) return Promise.resolve()
    const value: JobProgress = { percent: Math.min(100, Math.max(0, percent)) }
    if (message !== undefined) value.message = String(message).slice(0, 500)
    let state = this.#progress.get(run)
    if (!state) {
      state = { next: undefined, flight: undefined }
      this.#progress.set(run, state)
    }
    state.next = value
    state.flight ??= this.#flush(run, state)
    return state.flight
  }

  async #flush(run: R, state: ProgressState): Promise<void> {
    while (state.next) {
      const value = state.next
      state.next = undefined
      await this.#ledger.progress(run.id, { attempt: run.attempt }, value)
    }
    state.flight = undefined
  }

  close(): void {
    if (this.#timer) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
    for (const run of this.#running) run.watchIndex = -1
    this.#running.length = 0
  }

  #watch(run: R): void {
    if (run.watchIndex < 0) {
      run.watchIndex = this.#running.length
      this.#running.push(run)
    }
    if (!this.#timer) {
      this.#lastTick = this.#clock.now()
      this.#timer = this.#clock.setTimer(this.#tick, this.#intervalMs)
    }
  }

  #unwatch(run: R): void {
    const index = run.watchIndex
    if (index < 0) return
    run.watchIndex = -1
    const last = this.#running.pop()!
    if (last === run) return
    this.#running[index] = last
    last.watchIndex = index
  }

  readonly #tick = (): void => {
    this.#timer = undefined
    const previous = this.#lastTick
    this.#lastTick = this.#clock.now()
    if (this.#running.length === 0) return
    this.#timer = this.#clock.setTimer(this.#tick, this.#intervalMs)
    if (this.#polling) return
    const due: R[] = []
    for (const run of this.#running) if (run.startedAt <= previous) due.push(run)
    if (due.length === 0) return
    this.#polling = true
    Promise.all(
      due.map((run) =>
        this.#ledger.peek(run.id).then((record) => {
          if (!record || run.watchIndex < 0) return
          if (record.cancelRequested || record.status === 'cancelled') {
            this.#unwatch(run)
            this.#onCancel(run)
          }
        }),
      ),
    ).finally(() => {
      this.#polling = false
    })
  }
}
