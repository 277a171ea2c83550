/**
 * The fault suite: every scenario on every backend it applies to, one JSON line each.
 *   npm run faults                        the full run (FAULTS_SCALE=full: 10 s broker faults, thousands of jobs)
 *   FAULTS_SCALE=ci npm run faults        the small version CI runs (test/faults/faults.test.ts)
 *   FAULTS_ONLY=sigkill:sqs,poison npm run faults     some scenarios (scenario or scenario:backend)
 */
import {
  Brokers,
  runScenario,
  SCENARIOS,
  type Scale,
  type ScenarioName,
  type ScenarioResult,
} from './scenarios.ts'

const scale = (process.env.FAULTS_SCALE ?? 'full') as Scale
if (scale !== 'full' && scale !== 'ci') throw new Error(`FAULTS_SCALE must be full or ci, not ${scale}`)
const only = (process.env.FAULTS_ONLY ?? '').split(',').filter(Boolean)
const wanted = (scenario: string, backend: string) =>
  only.length === 0 || only.includes(scenario) || only.includes(`${scenario}:${backend}`)

const brokers = new Brokers()
const results: ScenarioResult[] = []
let failed = 0
try {
  for (const [scenario, backends] of Object.entries(SCENARIOS) as [
    ScenarioName,
    (typeof SCENARIOS)[ScenarioName],
  ][]) {
    for (const backend of backends) {
      if (!wanted(scenario, backend)) continue
      const result = await runScenario(scenario, backend, scale, brokers)
      console.log(JSON.stringify(result))
      results.push(result)
      const ok =
        result.lost === 0 &&
        result.concurrentDoubleRuns === 0 &&
        result.neverFinished === 0 &&
        result.duplicates <= result.inFlightAtFault
      if (!ok) failed++
    }
  }
} finally {
  await brokers.close()
}
if (failed > 0) {
  console.error(
    `${failed} scenario(s) missed the targets (lost, concurrentDoubleRuns, neverFinished 0; duplicates <= inFlightAtFault)`,
  )
  process.exitCode = 1
}

// The README's table, on stderr (stdout carries only the JSON lines).
const FIELDS = [
  'lost',
  'duplicates',
  'concurrentDoubleRuns',
  'neverFinished',
  'inFlightAtFault',
  'recoveryMs',
  'enqueueErrorMs',
] as const
console.error(
  `\n| scenario | backend | ${FIELDS.join(' | ')} | POST /v1/jobs during the fault |\n|${' --- |'.repeat(FIELDS.length + 3)}`,
)
for (const r of results) {
  const enqueue =
    r.enqueue && r.enqueue !== 'rejected'
      ? ` (${r.enqueue}${r.enqueueMs ? ` after ${r.enqueueMs}` : ''})`
      : ''
  const cells = FIELDS.map((f) => (f === 'enqueueErrorMs' ? `${r[f] ?? '–'}${enqueue}` : String(r[f] ?? '–')))
  const api =
    r.apiStatus === undefined
      ? '–'
      : r.apiStatus === null
        ? 'no answer'
        : `${r.apiStatus} in ${r.apiMs} ms${r.apiRetryAfter ? `, Retry-After ${r.apiRetryAfter}` : ''}`
  console.error(`| ${r.scenario} | ${r.backend} | ${cells.join(' | ')} | ${api} |`)
}
