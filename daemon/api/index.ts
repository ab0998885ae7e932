// The local HTTP API (INTERFACE.md): loopback only, a bearer token on every request but
// the public GETs, Host and Origin checked (DNS rebinding, cross-site requests), bodies of
// at most 1 MiB, every body and query checked with zod, and one catalogue of stable
// error codes: `{ "error": { "code", "message" } }` with the code's status.
//
// What applies to every request (the guard, the error answers, the raw-bytes parser) is
// set here on the root; each resource's routes are a fastify plugin registered under it,
// given only the parts of the instance it needs. The plugins are registered in the order
// /openapi.json lists their routes.
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from '../../src/log.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { EventHub } from '../events.ts'
import type { Instance } from '../instance.ts'
import { blobRoutes } from './blobs.ts'
import { conflictRoutes } from './conflicts.ts'
import {
  BODY_LIMIT_BYTES,
  errorHandler,
  frameworkErrorHandler,
  notFoundHandler,
} from './error-handler.ts'
import { eventRoutes } from './events.ts'
import { feedRoutes } from './feed.ts'
import { historyRoutes } from './history.ts'
import { requestGuard } from './guard.ts'
import { mergeRoutes } from './merges.ts'
import { metricsRoutes } from './metrics.ts'
import { objectRoutes } from './objects.ts'
import { serviceRoutes } from './openapi.ts'
import { statusPageRoutes } from './page.ts'
import { peerRoutes } from './peers.ts'
import { planRoutes } from './plan.ts'
import { collectRoutes } from './route.ts'
import { statusRoutes } from './status.ts'

export { BODY_LIMIT_BYTES } from './error-handler.ts'
export { EVENT_HEARTBEAT_MS, EVENT_STREAM_BUFFER_BYTES } from './events.ts'

export interface ApiOptions {
  token: string
  /** The port the API listens on: requests must name it in Host (and Origin, if any). */
  port: () => number
  /** What GET /v1/events streams; pairing and unpairing through the API are told to it. */
  events: EventHub
  /** Bytes an event stream may fall behind before it is cut (EVENT_STREAM_BUFFER_BYTES). */
  eventBufferBytes?: number
  logger?: Logger
}

export function createApi(instance: Instance, options: ApiOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: BODY_LIMIT_BYTES,
    logger: false,
    frameworkErrors: frameworkErrorHandler,
  })
  const routes = collectRoutes(app)
  app.addHook('onRequest', requestGuard(options))
  app.setErrorHandler(errorHandler(options.logger))
  app.setNotFoundHandler(notFoundHandler)
  // File contents come as raw bytes: handed to the route as the request stream, so that
  // a large file is written chunk by chunk, never held whole (bodyLimit does not apply).
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) =>
    done(null, payload),
  )

  const { store, local, registry } = instance
  const { events, eventBufferBytes, logger } = options
  const nameOf = (id: InstanceId) => (id === instance.id ? instance.name : registry.get(id)?.name)
  app.register(statusPageRoutes)
  app.register(serviceRoutes, { routes })
  app.register(metricsRoutes, { instance })
  app.register(statusRoutes, { instance })
  app.register(eventRoutes, {
    instance,
    events,
    ...(eventBufferBytes === undefined ? {} : { eventBufferBytes }),
    ...(logger === undefined ? {} : { logger }),
  })
  app.register(peerRoutes, { instance, events })
  app.register(objectRoutes, {
    store,
    nameOf,
    recordOf: (id, type) => local.recordOf(id, type),
  })
  app.register(blobRoutes, { blobs: store.blobs })
  app.register(feedRoutes, { store, self: instance.id })
  app.register(conflictRoutes, { store, local })
  app.register(historyRoutes, { store, nameOf })
  app.register(mergeRoutes, { store, nameOf })
  app.register(planRoutes, { local, registry, scopeOf: (peer) => instance.scopeOf(peer) })
  return app
}
