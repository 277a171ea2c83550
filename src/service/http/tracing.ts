import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

const tracer = trace.getTracer('conveyor', '0.1.0')
const spans = new WeakMap<FastifyRequest, { span: Span; context: Context }>()

/**
 * A span per request (OpenTelemetry API only: a no-op until the application installs an SDK), named
 * `<METHOD> <route>`. The route handler runs inside it, so a job it enqueues carries it as the parent
 * of its `send` span. When an HTTP instrumentation already made a server span for the request, this
 * one is its INTERNAL child; otherwise it is the SERVER span and continues an incoming `traceparent`.
 */
export const tracingPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onRequest', (request, _reply, done) => {
      const active = context.active()
      const outer = trace.getSpan(active)
      const parent = outer ? active : propagation.extract(active, request.headers)
      const route = request.routeOptions.url ?? request.url.split('?')[0]
      const span = tracer.startSpan(
        `${request.method} ${route}`,
        {
          kind: outer ? SpanKind.INTERNAL : SpanKind.SERVER,
          attributes: { 'http.request.method': request.method, 'http.route': route ?? '' },
        },
        parent,
      )
      spans.set(request, { span, context: trace.setSpan(parent, span) })
      done()
    })
    // Hooks before this one may run outside the request's context (body parsing is stream-driven);
    // the handler, called synchronously from here, runs inside it.
    app.addHook('preHandler', (request, _reply, done) => {
      const traced = spans.get(request)
      if (traced) context.with(traced.context, done)
      else done()
    })
    app.addHook('onError', (request, _reply, error, done) => {
      spans.get(request)?.span.recordException(error)
      done()
    })
    app.addHook('onResponse', (request, reply, done) => {
      const traced = spans.get(request)
      if (traced) {
        traced.span.setAttribute('http.response.status_code', reply.statusCode)
        if (reply.statusCode >= 500) traced.span.setStatus({ code: SpanStatusCode.ERROR })
        traced.span.end()
        spans.delete(request)
      }
      done()
    })
  },
  { name: 'conveyor-tracing' },
)
