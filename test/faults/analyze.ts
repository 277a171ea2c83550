import type { FaultEvent } from './events.ts'

/** One fault the harness caused: a process killed or stopped, or the broker cut, stalled or refusing. */
export interface Fault {
  kind: 'kill' | 'term' | 'cut' | 'stall' | 'extensions'
  start: number
  end: number
  /** The process hit, for kill and term. */
  pid?: number
}

export interface Observation {
  events: FaultEvent[]
  /** Envelope id → key of every job that should succeed and whose send was accepted. */
  good: Map<string, string>
  /** Envelope ids of poison sent as envelopes (unknown type, invalid payload, failing handler). */
  poison: Set<string>
  /** Bodies sent that are not envelopes (their ids are the provider's, unknown to the harness). */
  rawPoison: number
  /** When each worker process died (by the harness's hand or at the end). */
  deaths: Map<number, number>
  faults: Fault[]
  /** Keys of the messages still in the queue at the end, after every job was done and the workers stopped. */
  leftover: string[]
  endedAt: number
}

export interface FaultFigures {
  /** Accepted jobs that never ran and were not dead-lettered, plus poison that never reached the DLQ. */
  lost: number
  /** Extra handler runs of good jobs: Σ (runs − 1). */
  duplicates: number
  /** Pairs of runs of one job that overlapped in time (on one process or two). */
  concurrentDoubleRuns: number
  /** Good jobs that never completed, or whose message was still in the queue at the end (it would run again). */
  neverFinished: number
  /**
   * Runs holding their message (started, settlement not yet at the broker) in the process hit when it
   * was killed/stopped, or at any time during a broker fault.
   */
  inFlightAtFault: number
  /** Process faults: until every job in flight at the fault completed. Broker faults: from the end of the fault until a job started after it completed. The worst fault. */
  recoveryMs: number | null
  jobs: number
  runs: number
  poisonDeadLettered: number
  goodDeadLettered: number
}

interface Run {
  key: string
  id: string
  pid: number
  start: number
  end: number
  ended: 'end' | 'abort' | 'death' | 'open'
  /** Until when the run holds its message: its settlement reached the broker, or its process died. */
  held: number
}

/** Computes the suite's figures from the shared event file and what the harness did. */
export function analyze(o: Observation): FaultFigures {
  const runs = new Map<string, Run>()
  const endOf = new Map<string, number>()
  const deadLettered = new Set<string>()
  const settles = new Map<string, number[]>()
  for (const ev of o.events) {
    if (ev.e === 'dead_letter') {
      deadLettered.add(ev.id)
      continue
    }
    if (ev.e === 'settled') {
      const key = `${ev.pid} ${ev.id}`
      settles.set(key, [...(settles.get(key) ?? []), ev.t])
      continue
    }
    if (!ev.run || ev.key === undefined) continue
    if (ev.e === 'start') {
      runs.set(ev.run, {
        key: ev.key,
        id: ev.id,
        pid: ev.pid,
        start: ev.t,
        end: Number.POSITIVE_INFINITY,
        ended: 'open',
        held: Number.POSITIVE_INFINITY,
      })
    } else {
      const run = runs.get(ev.run)
      if (run) {
        run.end = ev.t
        run.ended = ev.e
      }
      if (ev.e === 'end' && !endOf.has(ev.key)) endOf.set(ev.key, ev.t)
    }
  }
  for (const run of runs.values()) {
    const death = o.deaths.get(run.pid)
    const settled = (settles.get(`${run.pid} ${run.id}`) ?? []).filter((t) => t >= run.start)
    run.held = settled.length > 0 ? Math.min(...settled) : (death ?? o.endedAt)
    if (run.ended !== 'open') continue
    run.end = death ?? o.endedAt
    run.ended = death === undefined ? 'open' : 'death'
  }
  const byKey = new Map<string, Run[]>()
  for (const run of runs.values()) {
    const list = byKey.get(run.key) ?? []
    list.push(run)
    byKey.set(run.key, list)
  }
  const goodKeys = new Set(o.good.values())
  const goodDead = new Set<string>()
  for (const [id, key] of o.good) if (deadLettered.has(id)) goodDead.add(key)

  const leftover = new Set(o.leftover)
  let lost = 0
  let neverFinished = 0
  let duplicates = 0
  let concurrentDoubleRuns = 0
  let runCount = 0
  for (const key of goodKeys) {
    const list = (byKey.get(key) ?? []).sort((a, b) => a.start - b.start)
    runCount += list.length
    if (list.length === 0) {
      // Never ran: still waiting in the queue (stuck) or gone (lost).
      if (leftover.has(key)) neverFinished++
      else if (!goodDead.has(key)) lost++
      continue
    }
    duplicates += list.length - 1
    const unfinished = !endOf.has(key) && !goodDead.has(key)
    const rerunning = leftover.has(key)
    if (unfinished || rerunning) neverFinished++
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++)
        if (list[j]!.start < list[i]!.end && list[i]!.start < list[j]!.end) concurrentDoubleRuns++
  }
  let poisonDeadLettered = 0
  let rawDeadLettered = 0
  const knownIds = new Set(o.good.keys())
  for (const id of deadLettered) {
    if (o.poison.has(id)) poisonDeadLettered++
    else if (!knownIds.has(id)) rawDeadLettered++
  }
  poisonDeadLettered += Math.min(rawDeadLettered, o.rawPoison)
  lost += o.poison.size + o.rawPoison - poisonDeadLettered

  let inFlightAtFault = 0
  let recoveryMs: number | null = null
  let unrecovered = false
  for (const f of o.faults) {
    const process = f.kind === 'kill' || f.kind === 'term'
    const hit = [...runs.values()].filter((r) =>
      process
        ? r.pid === f.pid && r.start <= f.start && r.held >= f.start
        : r.start <= f.end && r.held >= f.start,
    )
    inFlightAtFault += hit.length
    let ms: number | undefined
    if (process) {
      ms = 0
      for (const r of hit) {
        // A run that ended just before the fault but whose ack was not yet confirmed counts as done.
        const done = (byKey.get(r.key) ?? []).filter((x) => x.ended === 'end' && x.end >= r.start)
        if (done.length === 0) {
          if (!goodDead.has(r.key)) unrecovered = true
          continue
        }
        ms = Math.max(ms, Math.min(...done.map((x) => x.end)) - f.start, 0)
      }
    } else {
      const after = [...runs.values()].filter((r) => r.start >= f.end && r.ended === 'end')
      if (after.length === 0) unrecovered = true
      else ms = Math.min(...after.map((r) => r.end)) - f.end
    }
    if (ms !== undefined) recoveryMs = Math.max(recoveryMs ?? 0, Math.round(ms))
  }
  if (unrecovered) recoveryMs = null
  return {
    lost,
    duplicates,
    concurrentDoubleRuns,
    neverFinished,
    inFlightAtFault,
    recoveryMs,
    jobs: goodKeys.size,
    runs: runCount,
    poisonDeadLettered,
    goodDeadLettered: goodDead.size,
  }
}
