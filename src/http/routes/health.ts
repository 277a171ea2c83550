import type { FastifyInstance } from 'fastify'

/** /healthz (the process answers), /readyz (the queue answers), /metrics (Prometheus text). */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    const { queue, readinessQueue } = app.conveyor
    try {
      await queue.stats(readinessQueue)
      return { status: 'ready', queue: queue.driver }
    } catch (err) {
      return reply.code(503).send({
        statusCode: 503,
        error: 'Service Unavailable',
        message: `queue not reachable: ${(err as Error).message}`,
      })
    }
  })

  app.get('/metrics', async (_request, reply) => {
    const { registry } = app.conveyor.metrics
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}
