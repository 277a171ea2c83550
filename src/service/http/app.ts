import { readFileSync } from 'node:fs'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify'
import type { Logger } from '../../logger.ts'
import { authPlugin } from './auth.ts'
import { errorBody, formatSchemaErrors, installErrorHandler } from './errors.ts'
import { activityRoutes } from './routes/activities.ts'
import { adminRoutes } from './routes/admin.ts'
import { adminJobRoutes } from './routes/admin-jobs.ts'
import { devOutboxRoutes } from './routes/dev-outbox.ts'
import { exportRoutes } from './routes/exports.ts'
import { healthRoutes } from './routes/health.ts'
import { jobRoutes } from './routes/jobs.ts'
import { linkRoutes } from './routes/links.ts'
import { type ConveyorServices, servicesPlugin } from './services.ts'
import { tracingPlugin } from './tracing.ts'

const DASHBOARD = readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8')
const HOME = readFileSync(new URL('./home.html', import.meta.url), 'utf8')
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export interface AppOptions {
  services: ConveyorServices
  /** HS256 secret for bearer tokens. */
  jwtSecret: string
  logger?: Logger
  /** Largest request body in bytes. Default 1 MiB. */
  bodyLimit?: number
  /** Requests per user per minute on /v1. Default 120. */
  rateLimitPerMinute?: number
  /** BRAND_NAME, on the home page (where the welcome email's button leads). Default "Conveyor". */
  productName?: string
}

// Requests that pollers repeat every few seconds (health probes, Prometheus, the dashboard) were most
// of the log: their request lines are logged at debug; errors on them still at error.
const POLLED = /^\/(healthz|readyz|metrics)(\?|$)|^\/v1\/admin\/queues(\/[^/?]+\/dead-letters)?(\?|$)/
function polled(request: FastifyRequest): boolean {
  return request.method === 'GET' && POLLED.test(request.url)
}

class QuietPolls extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (polled(request)) request.log.debug({ req: request }, 'incoming request')
    else super.incomingRequest(request, reply)
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (!error && polled(request))
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed')
    else super.requestCompleted(error, request, reply)
  }
}

/** The HTTP API, ready for `inject` in tests or `listen` in the entry point. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is Fastify's logger; the cast only joins the two packages' type declarations.
    loggerInstance: options.logger as FastifyBaseLogger | undefined,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Download-link tokens in /links/exports/:token are about 250 characters.
    routerOptions: { maxParamLength: 1024 },
    // Unknown fields are refused, not silently dropped; every problem is reported.
    ajv: { customOptions: { allErrors: true, removeAdditional: false } },
    schemaErrorFormatter: formatSchemaErrors,
    logController: new QuietPolls(),
  }).withTypeProvider<TypeBoxTypeProvider>()
  installErrorHandler(app)
  await app.register(tracingPlugin)
  // The API speaks JSON only: any other body is a 415, not a string that fails validation later.
  app.removeContentTypeParser('text/plain')
  await app.register(servicesPlugin, { services: options.services })
  await app.register(authPlugin, { secret: options.jwtSecret })
  await app.register(swagger, {
    openapi: {
      info: { title: 'Conveyor API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  })
  await app.register(healthRoutes)
  await app.register(
    async (v1) => {
      // Authenticate first, so the rate limit counts per user (the token's sub), not per address.
      v1.addHook('onRequest', v1.authenticate)
      await v1.register(rateLimit, {
        max: options.rateLimitPerMinute ?? 120,
        timeWindow: 60_000,
        keyGenerator: (request) => `user:${request.user.sub}`,
        errorResponseBuilder: (_request, context) =>
          errorBody(
            429,
            `rate limit of ${context.max} requests per minute reached; retry in ${Math.ceil(context.ttl / 1000)} s`,
          ),
      })
      await v1.register(jobRoutes)
      await v1.register(adminRoutes)
      await v1.register(adminJobRoutes)
      const { exports } = options.services
      if (exports) {
        await v1.register(exportRoutes(exports))
        const activities = exports.kinds.get('activities')
        if (activities) await v1.register(activityRoutes(activities))
      }
    },
    { prefix: '/v1' },
  )
  if (options.services.exports) await app.register(linkRoutes(options.services.exports))
  if (options.services.outbox) await app.register(devOutboxRoutes(options.services.outbox))
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  // The home page: where the welcome email's button leads.
  const home = HOME.replaceAll('{{product}}', escapeHtml(options.productName ?? 'Conveyor'))
  app.get('/', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).send(home),
  )
  // The queue dashboard: a static page that reads /v1/admin with a token the operator pastes in.
  app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header(
        'content-security-policy',
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
      )
      .send(DASHBOARD),
  )
  return app
}
