import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import Type, { type Static } from 'typebox'
import {
  IdempotencyConflictError,
  InvalidPayloadError,
  LimitExceededError,
  QueueFullError,
  QueueUnavailableError,
  StorageUnavailableError,
  StoreUnavailableError,
} from '../../errors.ts'

/** The body of every error response. */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
})

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** The JSON body of an error response with this status. */
export function errorBody(statusCode: number, message: string): Static<typeof ErrorBody> {
  return { statusCode, error: STATUS_TEXT[statusCode] ?? 'Error', message }
}

/** A JSON error reply: `return sendError(reply, 404, 'no export ...')`. */
export function sendError(reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  return reply.code(statusCode).send(errorBody(statusCode, message))
}

interface SchemaError {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
}

/**
 * Fastify's `schemaErrorFormatter`: "body/format must be one of csv, pdf" instead of Ajv's "must be
 * equal to one of the allowed values"; every other problem keeps Ajv's sentence.
 */
export function formatSchemaErrors(errors: readonly SchemaError[], dataVar: string): Error {
  const lines = errors.map((e) => {
    const sentence =
      e.keyword === 'enum' && Array.isArray(e.params.allowedValues)
        ? `must be one of ${e.params.allowedValues.join(', ')}`
        : (e.message ?? 'is invalid')
    return `${dataVar}${e.instancePath} ${sentence}`
  })
  return new Error([...new Set(lines)].join(', '))
}

/** Every error is JSON `{ statusCode, error, message }`; bad input is a 4xx that says what is wrong, never a 500. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    let message = err.message
    if (err.validation) {
      status = 400
      message = err.message // Fastify's own sentence names the part and field: "body/delayMs must be >= 0"
    } else if (err instanceof InvalidPayloadError) {
      status = 400
    } else if (err instanceof LimitExceededError) {
      status = 429
    } else if (err instanceof IdempotencyConflictError) {
      status = 409
      if (err.inProgress) reply.header('retry-after', '2')
    } else if (err instanceof StoreUnavailableError) {
      status = 503
      reply.header('retry-after', '5')
      message = `the job store is unavailable: ${err.message}`
    } else if (err instanceof QueueUnavailableError || err instanceof QueueFullError) {
      status = 503
      reply.header('retry-after', '5')
      message = `the queue is unavailable: ${err.message}`
    } else if (err instanceof StorageUnavailableError) {
      status = 503
      reply.header('retry-after', '30')
      message = `file storage is unavailable: ${err.message}`
    } else if (isBackendOutage(err)) {
      status = 503
      reply.header('retry-after', '5')
      message = `a backing service is unavailable: ${err.message}`
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      message = `content-type ${String(request.headers['content-type'])} is not supported; send application/json`
    } else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      status = 400
      message = `body is not valid JSON: ${err.message}`
    }
    if (status === 500) {
      // Unexpected: log it whole, tell the client nothing internal.
      request.log.error({ err }, 'request failed')
      message = 'internal error'
    } else if (status > 500) {
      request.log.warn({ err }, 'request refused')
    }
    return sendError(reply, status, message)
  })
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, `no route ${request.method} ${request.url}`),
  )
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EPIPE',
])

/** The object store (S3) or another backend could not be reached or answered 5xx: not the client's fault. */
function isBackendOutage(err: unknown): boolean {
  const e = err as { code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown; name?: string }
  if (e.code && NETWORK_CODES.has(e.code)) return true
  if (e.$metadata) return !e.$metadata.httpStatusCode || e.$metadata.httpStatusCode >= 500
  return e.cause !== undefined && e.cause !== err && isBackendOutage(e.cause)
}
