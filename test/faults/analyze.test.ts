import assert from 'node:assert/strict'
import { test } from 'node:test'
import { analyze, type Observation } from './analyze.ts'
import type { FaultEvent } from './events.ts'

const ev = (e: FaultEvent['e'], key: string, run: string, pid: number, t: number): FaultEvent => ({
  e,
  key,
  id: `id-${key}`,
  run,
  pid,
  attempt: 1,
  t,
})

const base = (events: FaultEvent[], keys: string[], extra: Partial<Observation> = {}): Observation => ({
  events,
  good: new Map(keys.map((k) => [`id-${k}`, k])),
  poison: new Set(),
  rawPoison: 0,
  deaths: new Map(),
  faults: [],
  leftover: [],
  endedAt: 10_000,
  ...extra,
})

test('fault figures: a run cut by a kill and re-run later is one duplicate, in flight at the fault, and no overlap', () => {
  const figures = analyze(
    base(
      [ev('start', 'a', '1-1', 1, 100), ev('start', 'a', '2-1', 2, 600), ev('end', 'a', '2-1', 2, 700)],
      ['a'],
      {
        deaths: new Map([[1, 210]]),
        faults: [{ kind: 'kill', start: 200, end: 210, pid: 1 }],
      },
    ),
  )
  assert.deepEqual(
    [
      figures.lost,
      figures.duplicates,
      figures.concurrentDoubleRuns,
      figures.neverFinished,
      figures.inFlightAtFault,
      figures.recoveryMs,
    ],
    [0, 1, 0, 0, 1, 500],
  )
})

test('fault figures: two runs of one job overlapping in time count as a concurrent double run', () => {
  const figures = analyze(
    base(
      [
        ev('start', 'a', '1-1', 1, 100),
        ev('start', 'a', '2-1', 2, 150),
        ev('end', 'a', '1-1', 1, 300),
        ev('end', 'a', '2-1', 2, 320),
      ],
      ['a'],
    ),
  )
  assert.equal(figures.concurrentDoubleRuns, 1)
  assert.equal(figures.duplicates, 1)
})

test('fault figures: a job never started is lost; one started and never ended, or left in the queue, never finished', () => {
  const figures = analyze(
    base(
      [ev('start', 'b', '1-1', 1, 100), ev('start', 'c', '1-2', 1, 100), ev('end', 'c', '1-2', 1, 200)],
      ['a', 'b', 'c'],
      {
        leftover: ['c'],
      },
    ),
  )
  assert.equal(figures.lost, 1)
  assert.equal(figures.neverFinished, 2)
})

test('fault figures: poison that never reached the dead-letter queue is lost', () => {
  const dead: FaultEvent = { e: 'dead_letter', id: 'p1', pid: 1, attempt: 1, t: 5 }
  const figures = analyze(base([dead], [], { poison: new Set(['p1', 'p2']), rawPoison: 1 }))
  assert.equal(figures.poisonDeadLettered, 1)
  assert.equal(figures.lost, 2)
})

test('fault figures: a run whose handler returned but whose ack had not reached the broker at the kill was in flight', () => {
  const settled = (key: string, pid: number, t: number): FaultEvent => ({
    e: 'settled',
    key,
    id: `id-${key}`,
    pid,
    attempt: 1,
    t,
  })
  const figures = analyze(
    base(
      [
        ev('start', 'a', '1-1', 1, 100),
        ev('end', 'a', '1-1', 1, 150),
        ev('start', 'b', '1-2', 1, 100),
        ev('end', 'b', '1-2', 1, 150),
        settled('b', 1, 160),
        ev('start', 'a', '2-1', 2, 600),
        ev('end', 'a', '2-1', 2, 700),
        settled('a', 2, 705),
      ],
      ['a', 'b'],
      { deaths: new Map([[1, 210]]), faults: [{ kind: 'kill', start: 200, end: 210, pid: 1 }] },
    ),
  )
  assert.equal(figures.inFlightAtFault, 1, 'a (ack never made it), not b (acked at 160)')
  assert.equal(figures.duplicates, 1)
  assert.equal(figures.concurrentDoubleRuns, 0)
})
