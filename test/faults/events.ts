import { appendFileSync, readFileSync } from 'node:fs'

/**
 * What the fault suite's job writes, one JSON line per event, to a file every worker process shares
 * (appended synchronously, so a line written before a SIGKILL is on disk).
 * - `start` / `end`: a handler run began / returned successfully.
 * - `abort`: a handler run stopped without success (its signal fired, or it threw on purpose).
 * - `dead_letter`: the worker dead-lettered a delivery (`key` is absent for bodies that are not envelopes).
 * - `settled`: a delivery's ack, retry or dead-letter reached the broker (`reason` says which).
 */
export interface FaultEvent {
  e: 'start' | 'end' | 'abort' | 'dead_letter' | 'settled'
  /** The job's own key from its payload (the harness names every job it sends). */
  key?: string
  /** The message id the worker saw. */
  id: string
  pid: number
  /** One handler run: `<pid>-<n>`. */
  run?: string
  attempt: number
  /** Epoch ms. */
  t: number
  reason?: string
}

export type EventSink = (event: FaultEvent) => void

/** The `settled` event for a delivery, or undefined for a body that is not a fault-suite job. */
export function settledEvent(
  delivery: { id: string; attempt: number; envelope?: { payload: unknown } | undefined },
  how: string,
): FaultEvent | undefined {
  const key = (delivery.envelope?.payload as { key?: unknown } | undefined)?.key
  if (typeof key !== 'string') return undefined
  return {
    e: 'settled',
    key,
    id: delivery.id,
    pid: process.pid,
    attempt: delivery.attempt,
    t: Date.now(),
    reason: how,
  }
}

/** A sink that appends to `file` and, in a child process, also tells the parent over IPC. */
export function fileSink(file: string, alsoIpc = typeof process.send === 'function'): EventSink {
  return (event) => {
    appendFileSync(file, `${JSON.stringify(event)}\n`)
    if (alsoIpc && process.connected) process.send!({ kind: 'event', event })
  }
}

/** Every event in the file (the authoritative record: IPC messages from a killed process can be lost). */
export function readEvents(file: string): FaultEvent[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  const out: FaultEvent[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    try {
      out.push(JSON.parse(line) as FaultEvent)
    } catch {
      // A line torn by a kill mid-write: the run it described has no end, which is what happened.
    }
  }
  return out
}
