import jwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { sendError } from './errors.ts'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    /**
     * `sub` is the user; `email`, when present, is where "export ready" emails go; `role: "admin"`
     * opens /v1/admin (queues and dead letters).
     */
    payload: { sub: string; email?: string; role?: string }
    user: { sub: string; email?: string; role?: string }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: requires `Authorization: Bearer <JWT>` (HS256) with a `sub`; 401 otherwise. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

interface Verified {
  user: { sub: string; email?: string; role?: string }
  /** Epoch ms after which the token is refused again (its `exp`), or Infinity. */
  expiresAt: number
}

/** Tokens verified recently, by their exact header value: a client sends the same token many times. */
const CACHE_SIZE = 10_000

/**
 * Bearer JWTs (HS256); the token's `sub` is the user every /v1 request acts for. A token that verified
 * once is remembered by its exact header string until its `exp` (at most CACHE_SIZE of them), which
 * saves the HMAC and JSON work on every later request with it; a changed byte is a different key.
 */
export const authPlugin = fp<{ secret: string }>(
  async (app, { secret }) => {
    await app.register(jwt, { secret, sign: { algorithm: 'HS256' }, verify: { algorithms: ['HS256'] } })
    const verified = new Map<string, Verified>()

    app.decorate('authenticate', async (request: FastifyRequest, reply: FastifyReply) => {
      const header = request.headers.authorization
      const hit = header ? verified.get(header) : undefined
      if (hit && hit.expiresAt > Date.now()) {
        request.user = hit.user
        return
      }
      if (hit) verified.delete(header!)
      let claims: { sub?: unknown; email?: unknown; role?: unknown; exp?: unknown }
      try {
        claims = await request.jwtVerify()
      } catch (err) {
        const message =
          (err as { code?: string }).code === 'FST_JWT_NO_AUTHORIZATION_IN_HEADER'
            ? 'missing Authorization: Bearer token'
            : `invalid token: ${(err as Error).message}`
        return sendError(reply, 401, message)
      }
      if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
        return sendError(reply, 401, 'invalid token: no sub claim')
      }
      const user = {
        sub: claims.sub,
        ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
        ...(typeof claims.role === 'string' ? { role: claims.role } : {}),
      }
      request.user = user
      if (verified.size >= CACHE_SIZE) verified.delete(verified.keys().next().value!)
      verified.set(header!, {
        user,
        expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity,
      })
    })
  },
  { name: 'conveyor-auth', fastify: '5.x' },
)
