import assert from 'node:assert/strict'
import { after, afterEach, test } from 'node:test'
import { context, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import Type from 'typebox'
import { MemoryQueue } from '../adapters/memory/index.ts'
import type { Envelope } from '../src/envelope.ts'
import { defineJob } from '../src/job.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { testLogger } from './support/async.ts'

// The worker skips span work while no tracer provider is registered and the job carries no trace. These
// check that this shortcut is taken only then: an SDK installed after the worker started is used at
// once, and a trace that arrives in an envelope still reaches the jobs a handler enqueues. The order
// matters: Conveyor's tracer keeps the SDK's tracer once it has one (as @opentelemetry/api's proxy does).

afterEach(() => {
  propagation.disable()
  context.disable()
})
after(() => trace.disable())

function setup(handle: (producer: Producer) => Promise<void> | void) {
  const queue = new MemoryQueue()
  const boxed: { producer?: Producer } = {}
  const child = defineJob({ type: 'test.child', schema: Type.Object({}), handle: () => {} })
  const parent = defineJob({
    type: 'test.parent',
    schema: Type.Object({}),
    handle: () => handle(boxed.producer!),
  })
  const registry = new JobRegistry([parent, child])
  const producer = new Producer({ queue, registry })
  boxed.producer = producer
  const worker = new Worker({ queue, jobs: registry, logger: testLogger }).start()
  const outcomes = new JobOutcomes(worker)
  return { queue, producer, worker, outcomes, parent, child }
}

test('tracing: with a propagator but no tracer provider, a job enqueued by a handler carries the trace of the envelope', async (t) => {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  const sent: Envelope[] = []
  const { queue, producer, worker, outcomes, parent, child } = setup(async (p) => {
    sent.push(await p.enqueue(child, {}))
  })
  t.after(async () => {
    await worker.stop()
    await queue.close()
  })
  const callerTrace = '0af7651916cd43dd8448eb211c80319c'
  const traced = await producer.enqueue(parent, {}, { traceparent: `00-${callerTrace}-b7ad6b7169203331-01` })
  await outcomes.waitFor(traced.id)
  await outcomes.waitFor(sent[0]!.id)
  assert.match(sent[0]!.traceparent ?? '', new RegExp(`^00-${callerTrace}-b7ad6b7169203331-01$`))

  const untraced = await producer.enqueue(parent, {})
  await outcomes.waitFor(untraced.id)
  assert.equal(sent[1]!.traceparent, undefined, 'a job without a trace starts none')
})

test('tracing: with no SDK a handler runs outside any span; a tracer provider registered later traces the next attempt', async (t) => {
  const activeSpans: boolean[] = []
  const { queue, producer, worker, outcomes, parent } = setup(() => {
    activeSpans.push(trace.getActiveSpan() !== undefined)
  })
  t.after(async () => {
    await worker.stop()
    await queue.close()
  })
  const first = await producer.enqueue(parent, {})
  await outcomes.waitFor(first.id)
  assert.deepEqual(activeSpans, [false], 'no span around a handler while nothing is installed')

  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  trace.setGlobalTracerProvider(provider)
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  t.after(() => provider.shutdown())
  const second = await producer.enqueue(parent, {})
  await outcomes.waitFor(second.id)
  const attempts = exporter.getFinishedSpans().filter((s) => s.name === 'process default')
  assert.equal(attempts.length, 1, 'the attempt after the SDK was installed has its span')
  assert.equal(attempts[0]!.attributes['messaging.message.id'], second.id)
  assert.deepEqual(activeSpans, [false, true], 'and its handler runs inside it')
})
