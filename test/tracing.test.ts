import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, afterEach, before, test } from 'node:test'
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { createSigner } from 'fast-jwt'
import { pino } from 'pino'
import Type from 'typebox'
import { defineJob } from '../src/job.ts'
import { Metrics } from '../src/metrics.ts'
import { Producer } from '../src/producer.ts'
import { JobRegistry } from '../src/registry.ts'
import { buildApp } from '../src/service/http/app.ts'
import { JobOutcomes } from '../src/testing.ts'
import { Worker } from '../src/worker.ts'
import { testLogger } from './support/async.ts'
import { AwsTestBackend } from './support/aws.ts'

// What an application does to turn Conveyor's spans on: an SDK provider, the W3C propagator and an
// AsyncLocalStorage context manager. Conveyor itself only depends on @opentelemetry/api.
const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const aws = new AwsTestBackend()
before(async () => {
  trace.setGlobalTracerProvider(provider)
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  await aws.start()
})
after(async () => {
  await aws.stop()
  await provider.shutdown()
  trace.disable()
  propagation.disable()
  context.disable()
})
afterEach(() => exporter.reset())

const SECRET = 'test-secret-that-is-long-enough-for-hs256'
const alice = `Bearer ${createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 60_000 })({ sub: 'alice' })}`

/** A pino logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line))
      cb()
    },
  })
  return { logger: pino({ level: 'info' }, stream), lines }
}

test('tracing: one trace runs from the HTTP request through the send to every attempt and the dead letter, across two queue clients', async (t) => {
  const name = aws.name('traced')
  const flaky = defineJob({
    type: 'test.flaky',
    queue: name,
    schema: Type.Object({ n: Type.Integer() }),
    publishable: true,
    maxAttempts: 2,
    backoff: { baseMs: 1, maxMs: 1 },
    handle: (_p, { log }) => {
      log.info('trying')
      throw new Error('always fails')
    },
  })
  const registry = new JobRegistry([flaky])
  // The API and the worker talk to SQS through separate clients: only the message body links them.
  const apiQueue = aws.createQueue()
  const workerQueue = aws.createQueue({ waitTimeSeconds: 1 })
  const metrics = new Metrics()
  const app = await buildApp({
    services: {
      queue: apiQueue,
      registry,
      metrics,
      producer: new Producer({ queue: apiQueue, registry, metrics }),
      readinessQueue: name,
    },
    jwtSecret: SECRET,
    logger: testLogger,
  })
  const { logger, lines } = capturingLogger()
  const worker = new Worker({ queue: workerQueue, jobs: registry, logger, random: () => 0 }).start()
  const outcomes = new JobOutcomes(worker)
  t.after(async () => {
    await worker.stop()
    await app.close()
    await apiQueue.close()
    await workerQueue.close()
  })

  const res = await app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { authorization: alice },
    payload: { type: 'test.flaky', payload: { n: 1 } },
  })
  assert.equal(res.statusCode, 202)
  const { id } = res.json() as { id: string }
  await outcomes.waitFor(id, 'dead_letter', 20_000)

  const spans = exporter.getFinishedSpans()
  const request = spans.find((s) => s.name === 'POST /v1/jobs')
  const send = spans.find((s) => s.name === `send ${name}`)
  const attempts = spans
    .filter((s) => s.name === `process ${name}`)
    .sort(
      (a, b) => Number(a.attributes['conveyor.job.attempt']) - Number(b.attributes['conveyor.job.attempt']),
    )
  assert.ok(request && send, `request and send spans in ${spans.map((s) => s.name).join(', ')}`)
  assert.equal(request.kind, SpanKind.SERVER)
  assert.equal(send.kind, SpanKind.PRODUCER)
  assert.equal(attempts.length, 2, 'one span per attempt')
  const traceId = request.spanContext().traceId
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
  assert.equal(send.spanContext().traceId, traceId)
  assert.equal(parentOf(send), request.spanContext().spanId, 'the send is a child of the request')
  for (const a of attempts) {
    assert.equal(a.kind, SpanKind.CONSUMER)
    assert.equal(a.spanContext().traceId, traceId, 'every attempt is in the request trace')
    assert.equal(parentOf(a), send.spanContext().spanId, 'every attempt is a child of the send')
    assert.equal(a.attributes['messaging.message.id'], id)
    assert.equal(a.status.code, SpanStatusCode.ERROR)
  }
  assert.deepEqual(
    attempts.map((a) => a.events.map((e) => e.name).filter((n) => n !== 'exception')),
    [['retry'], ['dead_letter']],
  )
  assert.equal(
    attempts[1]!.events.find((e) => e.name === 'dead_letter')!.attributes!['conveyor.dead_letter.code'],
    'max_attempts',
  )

  const jobLines = lines.filter((l) => l.jobId === id)
  assert.ok(jobLines.length >= 4, 'the handler lines and the worker lines for both attempts')
  for (const line of jobLines)
    assert.equal(line.traceId, traceId, `log line "${String(line.msg)}" carries the trace id`)
})

test('tracing: an incoming traceparent header continues the caller trace; a job enqueued inside a handler joins its trace', async (t) => {
  const name = aws.name('nested')
  const child = defineJob({ type: 'test.child', queue: name, schema: Type.Object({}), handle: () => {} })
  const producerBox: { producer?: Producer } = {}
  const parent = defineJob({
    type: 'test.parent',
    queue: name,
    schema: Type.Object({}),
    publishable: true,
    handle: async () => {
      await producerBox.producer!.enqueue(child, {})
    },
  })
  const registry = new JobRegistry([parent, child])
  const queue = aws.createQueue({ waitTimeSeconds: 1 })
  const producer = new Producer({ queue, registry })
  producerBox.producer = producer
  const app = await buildApp({
    services: { queue, registry, metrics: new Metrics(), producer, readinessQueue: name },
    jwtSecret: SECRET,
    logger: testLogger,
  })
  const worker = new Worker({ queue, jobs: registry, logger: testLogger }).start()
  const outcomes = new JobOutcomes(worker)
  t.after(async () => {
    await worker.stop()
    await app.close()
    await queue.close()
  })
  const callerTrace = '0af7651916cd43dd8448eb211c80319c'
  const res = await app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { authorization: alice, traceparent: `00-${callerTrace}-b7ad6b7169203331-01` },
    payload: { type: 'test.parent', payload: {} },
  })
  assert.equal(res.statusCode, 202)
  await outcomes.waitFor((res.json() as { id: string }).id)
  await outcomes.waitUntil((e) => e.type === 'test.child' && e.outcome === 'success')
  const spans = exporter.getFinishedSpans()
  const request = spans.find((s) => s.name === 'POST /v1/jobs')!
  assert.equal(
    request.parentSpanContext?.spanId,
    'b7ad6b7169203331',
    'the request span continues the caller span',
  )
  const processes = spans.filter((s) => s.name === `process ${name}`)
  const sends = spans.filter((s) => s.name === `send ${name}`)
  assert.equal(processes.length, 2)
  assert.equal(sends.length, 2)
  for (const s of spans)
    assert.equal(s.spanContext().traceId, callerTrace, `${s.name} is in the caller trace`)
  const parentAttempt = processes.find((s) => s.attributes['conveyor.job.type'] === 'test.parent')!
  const childSend = sends.find((s) => s.parentSpanContext?.spanId === parentAttempt.spanContext().spanId)
  assert.ok(childSend, 'the child job send is a child of the parent job attempt')
})
