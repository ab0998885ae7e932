// The routes that hold no data and need no token: GET /healthz, and GET /openapi.json,
// this API as OpenAPI 3.1 built from what each route says of itself (route.ts) and the
// zod schemas that check its bodies and queries.
import type { FastifyPluginCallback } from 'fastify'
import { z } from 'zod'
import { ERROR_CODES } from '../../src/errors.ts'
import { addRoute, type DescribedRoute } from './route.ts'

export interface ServiceRoutesOptions {
  /** Every route of the API, filled as the plugins load (collectRoutes). */
  routes: readonly DescribedRoute[]
}

export const serviceRoutes: FastifyPluginCallback<ServiceRoutesOptions> = (
  app,
  { routes },
  done,
) => {
  addRoute(app, {
    method: 'GET',
    url: '/healthz',
    summary: 'Whether the daemon answers',
    public: true,
    handler: () => ({ ok: true }),
  })
  addRoute(app, {
    method: 'GET',
    url: '/openapi.json',
    summary: 'This description of the API (OpenAPI 3.1)',
    public: true,
    handler: () => openApiDocument(routes),
  })
  done()
}

interface JsonSchema {
  properties?: Record<string, unknown>
  required?: string[]
}

const ERROR_BODY = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CODES) },
        message: { type: 'string' },
      },
    },
  },
}

/** The OpenAPI 3.1 description of `routes`, their bodies and queries from the zod schemas. */
export function openApiDocument(routes: readonly DescribedRoute[]) {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const path = route.url.replace(/:(\w+)/g, '{$1}')
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'objectsync daemon API', version: '1' },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        token: { type: 'http', scheme: 'bearer', description: 'the token in DIR/api-token' },
      },
    },
    security: [{ token: [] }],
    paths,
  }
}

function operation(route: DescribedRoute) {
  const ok = route.ok ?? { status: 200 }
  return {
    summary: route.summary,
    ...(route.public === true ? { security: [] } : {}),
    parameters: parameters(route),
    ...requestBody(route),
    responses: {
      [ok.status]: {
        description: 'success',
        ...(ok.status === 204 ? {} : { content: { [ok.type ?? 'application/json']: {} } }),
      },
      default: {
        description: 'an error, with its stable code',
        content: { 'application/json': { schema: ERROR_BODY } },
      },
    },
  }
}

/** The path parameters (`:id`), then the query's, from its zod schema. */
function parameters(route: DescribedRoute) {
  const pathParameters = [...route.url.matchAll(/:(\w+)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }))
  const query = route.query && (z.toJSONSchema(route.query, { io: 'input' }) as JsonSchema)
  const queryParameters = Object.entries(query?.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: query?.required?.includes(name) ?? false,
    schema,
  }))
  return [...pathParameters, ...queryParameters]
}

/** `{ requestBody }` for a route that takes raw bytes or a JSON body, else nothing. */
function requestBody(route: DescribedRoute) {
  // A JSON body's schema wins over raw bytes, should a route declare both.
  if (route.body !== undefined) {
    const schema = z.toJSONSchema(route.body, { io: 'input' })
    // A missing body is read as `{}` (schemas.ts parse): a schema that takes `{}` makes the
    // body optional.
    const required = !route.body.safeParse({}).success
    return { requestBody: { required, content: { 'application/json': { schema } } } }
  }
  if (route.rawBody !== undefined) {
    const schema = { type: 'string', format: 'binary' }
    return { requestBody: { required: true, content: { [route.rawBody]: { schema } } } }
  }
  return {}
}
