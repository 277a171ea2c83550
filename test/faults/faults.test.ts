/**
 * The fault suite at CI size (FAULTS_SCALE=ci): real worker processes killed, stopped and cut off from
 * fauxqs and the Pub/Sub emulator. `npm run faults` runs the full version (10 s broker faults, thousands
 * of jobs, every scenario on every backend).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { pubsubSkipReason } from '../support/pubsub-emulator.ts'
import type { Backend } from './backends.ts'
import { Brokers, runScenario, type ScenarioName } from './scenarios.ts'

const skipPubSub = pubsubSkipReason()
const brokers = new Brokers()
// The emulator (a JVM) starts while the first scenarios run; a failure to start shows in the first Pub/Sub test.
if (!skipPubSub) brokers.pubsub().catch(() => undefined)
after(() => brokers.close())

// Pub/Sub's ack deadline is at least 10 s, so its lease scenarios (jobs three leases long) take minutes:
// CI runs the process and network ones (a kill costs one deadline, about 18 s in all); `npm run faults`
// runs them all. The conformance suite covers Pub/Sub's leases (backlog past a lease, failing extensions).
const CI: [ScenarioName, Backend][] = [
  ['poison', 'memory'],
  ['long-jobs', 'memory'],
  ['failing-extensions', 'memory'],
  ['sigkill', 'sqs'],
  ['sigterm', 'sqs'],
  ['broker-cut', 'sqs'],
  ['broker-stall', 'sqs'],
  ['poison', 'sqs'],
  ['long-jobs', 'sqs'],
  ['failing-extensions', 'sqs'],
  ['poison', 'pubsub'],
  ['sigkill', 'pubsub'],
  ['sigterm', 'pubsub'],
  ['broker-cut', 'pubsub'],
  ['broker-stall', 'pubsub'],
]

for (const [scenario, backend] of CI) {
  const name = `faults: ${scenario} on ${backend} loses no job, never runs one job twice at once, leaves none unfinished, and re-runs at most the jobs in flight at the fault`
  test(name, { skip: backend === 'pubsub' && skipPubSub }, async (t) => {
    const result = await runScenario(scenario, backend, 'ci', brokers)
    t.diagnostic(JSON.stringify(result))
    const line = JSON.stringify(result)
    assert.equal(result.timedOut, undefined, line)
    assert.equal(result.lost, 0, `lost: ${line}`)
    assert.equal(result.concurrentDoubleRuns, 0, `concurrentDoubleRuns: ${line}`)
    assert.equal(result.neverFinished, 0, `neverFinished: ${line}`)
    assert.ok(result.duplicates <= result.inFlightAtFault, `duplicates > inFlightAtFault: ${line}`)
    if (scenario === 'poison')
      assert.equal(result.poisonDeadLettered, 20, `every poison message dead-lettered: ${line}`)
  })
}
