import type { FastifyInstance } from 'fastify'
import { sendError } from '../errors.ts'

/**
 * /healthz (the process answers), /readyz (the queue, the object store and the job store answer, and
 * this process's worker, if any, is consuming every queue), /metrics (Prometheus text).
 */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    const { queue, readinessQueue, exports, worker, ledger } = app.conveyor
    try {
      await queue.stats(readinessQueue)
    } catch (err) {
      return sendError(reply, 503, `queue not reachable: ${(err as Error).message}`)
    }
    const idle = worker?.notConsuming ?? []
    if (idle.length > 0) {
      return sendError(reply, 503, `worker not consuming: ${idle.join(', ')} (see the worker's log)`)
    }
    try {
      await exports?.store.ready()
    } catch (err) {
      return sendError(reply, 503, `object store not reachable: ${(err as Error).message}`)
    }
    try {
      await ledger?.store.ping()
    } catch (err) {
      return sendError(reply, 503, `job store not reachable: ${(err as Error).message}`)
    }
    return {
      status: 'ready',
      queue: queue.driver,
      ...(exports ? { store: exports.store.driver } : {}),
      ...(ledger ? { jobStore: ledger.store.driver } : {}),
    }
  })

  app.get('/metrics', async (_request, reply) => {
    const { registry } = app.conveyor.metrics
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}
