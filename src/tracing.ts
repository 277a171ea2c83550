import {
  type Context,
  context,
  isSpanContextValid,
  ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api'
import type { Envelope } from './envelope.ts'

/**
 * OpenTelemetry spans, the way libraries emit them: through `@opentelemetry/api` only. Until the
 * application installs an SDK (a TracerProvider, a propagator, a context manager) every span here is a
 * no-op and nothing is injected. With one installed, a job gives one trace across processes:
 *
 *     POST /v1/jobs (SERVER) → send <queue> (PRODUCER) → process <queue> (CONSUMER, one per attempt)
 *                                                           └ event `retry` / `dead_letter`
 *
 * The send span's context travels in `envelope.traceparent`, written by the global propagator (W3C
 * Trace Context in every OpenTelemetry SDK's default setup) and read back by the worker for each
 * attempt's parent.
 */
const TRACER_NAME = 'conveyor'
const TRACER_VERSION = '0.1.0'
/** The global provider when this module loaded: a ProxyTracerProvider, which hands out the SDK's tracers once one is installed. */
const provider = trace.getTracerProvider()
const tracer = provider.getTracer(TRACER_NAME, TRACER_VERSION)
/** Once `tracer` has a real tracer behind it, it keeps it: then the check below is never made again. */
let tracerLive = false

/**
 * True while `tracer` is the no-op one: no SDK has given the provider a delegate yet, so every span it
 * starts is a non-recording span. Asked on every attempt until an SDK shows up (a property read), since
 * an application may install its SDK after Conveyor is loaded.
 */
function tracerIsNoop(): boolean {
  if (tracerLive) return false
  if (provider instanceof ProxyTracerProvider && !provider.getDelegateTracer(TRACER_NAME, TRACER_VERSION))
    return true
  tracerLive = true
  return false
}

/** An attempt with nothing to trace: no span, and no context to run its handler in. */
const UNTRACED: { span: undefined; context: undefined } = { span: undefined, context: undefined }

/** `traceparent` (and `tracestate`) of a context, as the global propagator writes them. */
function injected(ctx: Context): Record<string, string> {
  const carrier: Record<string, string> = {}
  propagation.inject(ctx, carrier)
  return carrier
}

/** The context a W3C `traceparent` names (the active one when there is none). */
export function contextFrom(traceparent: string | undefined, base: Context = context.active()): Context {
  return traceparent ? propagation.extract(base, { traceparent }) : base
}

/**
 * Runs `send` inside a PRODUCER span for `envelopes`, after writing that span's context into each
 * envelope's `traceparent`. An envelope that already carries one (the caller passed it) makes that
 * trace the span's parent.
 */
export function traceSend<T>(
  queue: string,
  type: string,
  envelopes: readonly Envelope[],
  send: () => Promise<T>,
): Promise<T> {
  const parent = contextFrom(envelopes[0]?.traceparent)
  const span = tracer.startSpan(`send ${queue}`, { kind: SpanKind.PRODUCER }, parent)
  // No SDK and no trace to continue: nothing to record or propagate, so no context and no wrapper.
  if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return send()
  return sendInSpan(span, parent, queue, type, envelopes, send)
}

async function sendInSpan<T>(
  span: Span,
  parent: Context,
  queue: string,
  type: string,
  envelopes: readonly Envelope[],
  send: () => Promise<T>,
): Promise<T> {
  // Attributes only for a recording span: without an SDK a job costs no attribute objects.
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': 'conveyor',
      'messaging.operation.type': 'send',
      'messaging.destination.name': queue,
      'messaging.batch.message_count': envelopes.length,
      'conveyor.job.type': type,
    })
    if (envelopes.length === 1) span.setAttribute('messaging.message.id', envelopes[0]!.id)
  }
  const ctx = trace.setSpan(parent, span)
  const { traceparent } = injected(ctx)
  if (traceparent) for (const env of envelopes) env.traceparent = traceparent
  try {
    const result = await context.with(ctx, send)
    span.setStatus({ code: SpanStatusCode.OK })
    return result
  } catch (err) {
    span.recordException(err as Error)
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message })
    throw err
  } finally {
    span.end()
  }
}

/**
 * A CONSUMER span for one attempt, a child of the context in the envelope's `traceparent`, and the
 * context to run its handler in. No span at all (undefined) when there is no trace to continue and no
 * tracer provider: the span would be a no-op with an invalid context, so nothing is made per attempt.
 */
export function startAttemptSpan(
  queue: string,
  attempt: { id: string; type?: string; attempt: number; traceparent?: string },
): { span: Span | undefined; context: Context | undefined } {
  if (!attempt.traceparent && tracerIsNoop()) return UNTRACED
  const parent = contextFrom(attempt.traceparent, ROOT_CONTEXT)
  const span = tracer.startSpan(`process ${queue}`, { kind: SpanKind.CONSUMER }, parent)
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': 'conveyor',
      'messaging.operation.type': 'process',
      'messaging.destination.name': queue,
      'messaging.message.id': attempt.id,
      'conveyor.job.attempt': attempt.attempt,
    })
    if (attempt.type) span.setAttribute('conveyor.job.type', attempt.type)
  }
  // `context` is undefined when there is nothing to run the handler inside (no SDK, no trace).
  const live = span.isRecording() || isSpanContextValid(span.spanContext())
  return { span, context: live ? trace.setSpan(parent, span) : undefined }
}

/** Ends an attempt's span with its outcome: ok, a retry (event `retry`) or a dead letter (event `dead_letter`). */
export function endAttemptSpan(
  span: Span,
  outcome:
    | { outcome: 'success' }
    | { outcome: 'retry' | 'timeout'; error: unknown; retryInMs: number }
    | { outcome: 'dead_letter'; code: string; reason: string; error?: unknown }
    | { outcome: 'cancelled' }
    | { outcome: 'lease_lost'; error: unknown },
): void {
  if (outcome.outcome === 'success') {
    span.setStatus({ code: SpanStatusCode.OK })
  } else if (outcome.outcome === 'cancelled') {
    span.addEvent('cancelled')
  } else if (outcome.outcome === 'lease_lost') {
    if (outcome.error instanceof Error) span.recordException(outcome.error)
    span.addEvent('lease_lost')
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'lease lost' })
  } else {
    const err = outcome.error as Error | undefined
    if (err instanceof Error) span.recordException(err)
    if (outcome.outcome === 'dead_letter') {
      span.addEvent('dead_letter', {
        'conveyor.dead_letter.code': outcome.code,
        'conveyor.dead_letter.reason': outcome.reason,
      })
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.reason })
    } else {
      span.addEvent('retry', {
        'conveyor.retry_in_ms': outcome.retryInMs,
        'conveyor.outcome': outcome.outcome,
      })
      span.setStatus({ code: SpanStatusCode.ERROR, message: err?.message ?? String(outcome.error) })
    }
  }
  span.end()
}

/**
 * The trace id for log lines: the span's when it is real, else the one in `traceparent` (a producer
 * with an SDK, a worker without), else undefined.
 */
export function traceIdOf(span: Span | undefined, traceparent?: string): string | undefined {
  const sc = span?.spanContext()
  if (sc && isSpanContextValid(sc)) return sc.traceId
  const match = traceparent && /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent)
  return match && match[1] !== '0'.repeat(32) ? match[1] : undefined
}
