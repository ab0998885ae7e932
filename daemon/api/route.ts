// How a route of the API describes itself. Every route is added with addRoute, which
// keeps its description in fastify's route config: the request guard reads `public` from
// there, and /openapi.json is built from the descriptions collectRoutes saw registered.
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify'
import type { z } from 'zod'

/** What the OpenAPI document says of a route, and whether it needs the token. */
export interface RouteDescription {
  summary: string
  /** Answered without the token: it holds no data. Only GET routes may be public. */
  public?: boolean
  query?: z.ZodType
  body?: z.ZodType
  /** The media type of a body taken as raw bytes (streamed, not parsed). */
  rawBody?: string
  /** The status of a successful answer, and its media type when not JSON. */
  ok?: { status: number; type?: string }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set by addRoute on every route of the API. */
    api?: RouteDescription
  }
}

export type ApiMethod = Extract<HTTPMethods, 'GET' | 'POST' | 'PATCH' | 'DELETE'>

/** A route as registered: where it is and what it says of itself. */
export interface DescribedRoute extends RouteDescription {
  method: ApiMethod
  url: string
}

export interface ApiRoute extends DescribedRoute {
  handler: (request: FastifyRequest, reply: FastifyReply) => unknown
}

export function addRoute(app: FastifyInstance, route: ApiRoute): void {
  const { method, url, handler, ...description } = route
  app.route({ method, url, handler, config: { api: description } })
}

/**
 * The routes registered on `app` (and the plugins under it) from now on, in the order
 * they are registered; the array fills as the plugins load.
 */
export function collectRoutes(app: FastifyInstance): readonly DescribedRoute[] {
  const routes: DescribedRoute[] = []
  app.addHook('onRoute', (route) => {
    const description = route.config?.api
    // fastify adds a HEAD route beside each GET one, with the same config: not described.
    if (description === undefined || route.method === 'HEAD') return
    routes.push({ ...description, method: route.method as ApiMethod, url: route.url })
  })
  return routes
}

/** The `:id` of a route's path, as an object or instance id. */
export function idParam<Id extends string>(request: FastifyRequest): Id {
  return (request.params as { id: string }).id as Id
}
