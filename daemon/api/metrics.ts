// GET /metrics: the instance in Prometheus text format (daemon/metrics.ts), token required.
import type { FastifyPluginCallback } from 'fastify'
import type { Instance } from '../instance.ts'
import { createMetrics } from '../metrics.ts'
import { addRoute } from './route.ts'

export interface MetricsRoutesOptions {
  instance: Instance
}

export const metricsRoutes: FastifyPluginCallback<MetricsRoutesOptions> = (
  app,
  { instance },
  done,
) => {
  const metrics = createMetrics(instance)
  app.addHook('onClose', (_app, closed) => {
    metrics.stop()
    closed()
  })
  addRoute(app, {
    method: 'GET',
    url: '/metrics',
    summary: 'The instance in Prometheus text format',
    ok: { status: 200, type: 'text/plain' },
    handler: async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
  })
  done()
}
