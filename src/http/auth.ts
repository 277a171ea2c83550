import jwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    /** `sub` is the user; `email`, when present, is where "export ready" emails go. */
    payload: { sub: string; email?: string }
    user: { sub: string; email?: string }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: requires `Authorization: Bearer <JWT>` (HS256) with a `sub`; 401 otherwise. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

/** Bearer JWTs (HS256); the token's `sub` is the user every /v1 request acts for. */
export const authPlugin = fp<{ secret: string }>(
  async (app, { secret }) => {
    await app.register(jwt, { secret, sign: { algorithm: 'HS256' }, verify: { algorithms: ['HS256'] } })
    app.decorate('authenticate', async (request: FastifyRequest, reply: FastifyReply) => {
      try {
        await request.jwtVerify()
      } catch (err) {
        const message =
          (err as { code?: string }).code === 'FST_JWT_NO_AUTHORIZATION_IN_HEADER'
            ? 'missing Authorization: Bearer token'
            : `invalid token: ${(err as Error).message}`
        return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message })
      }
      if (typeof request.user?.sub !== 'string' || request.user.sub.length === 0) {
        return reply
          .code(401)
          .send({ statusCode: 401, error: 'Unauthorized', message: 'invalid token: no sub claim' })
      }
    })
  },
  { name: 'conveyor-auth', fastify: '5.x' },
)
