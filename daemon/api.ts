// The local HTTP API (INTERFACE.md): loopback only, a bearer token on every request but
// GET /healthz, Host and Origin checked (DNS rebinding, cross-site requests), bodies of
// at most 1 MiB, every body and query checked with zod, and one catalogue of stable
// error codes: `{ "error": { "code", "message" } }` with the code's status.
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type HTTPMethods,
} from 'fastify'
import { z } from 'zod'
import { ERROR_CODES, ObjectSyncError, isObjectSyncError } from '../src/errors.ts'
import type { Logger } from '../src/log.ts'
import { OBJECT_TYPES, parseDuration, type InstanceId, type ObjectId } from '../src/model/index.ts'
import type { StoredObject } from '../src/store/index.ts'
import { peerViews, type DaemonEvent, type EventHub } from './events.ts'
import type { Instance } from './instance.ts'
import { createMetrics } from './metrics.ts'

export const BODY_LIMIT_BYTES = 1024 * 1024
/** An event stream whose client reads slower than this many bytes behind is closed. */
export const EVENT_STREAM_BUFFER_BYTES = 1024 * 1024
/** A comment line this often keeps idle event streams open through proxies and timeouts. */
export const EVENT_HEARTBEAT_MS = 15_000

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

const objectType = z.enum(OBJECT_TYPES, `expected one of ${OBJECT_TYPES.join(', ')}`)
const fieldValues = z.record(z.string(), z.unknown(), 'expected an object of fields')
const schemas = {
  listQuery: z.strictObject({
    type: objectType,
    limit: z.coerce.number().int().min(1).max(1000).optional(),
    after: z.string().optional(),
  }),
  changesQuery: z.strictObject({ since: z.coerce.number().int().min(0).default(0) }),
  create: z.strictObject({ type: objectType, fields: fieldValues, custom: fieldValues.optional() }),
  patch: z.strictObject({ fields: fieldValues.optional(), custom: fieldValues.optional() }),
  resolve: z.strictObject({
    field: z.string().min(1),
    by: z.string().min(1),
    at: z.number().int(),
  }),
  link: z.strictObject({ key: z.string().min(1, 'expected the local record key') }),
  planQuery: z.strictObject({ limit: z.coerce.number().int().min(1).max(10_000).optional() }),
  invite: z.strictObject({
    expires: z
      .string()
      .refine((value) => (parseDuration(value) ?? 0) > 0, 'expected a duration, e.g. "1h" or "30m"')
      .optional(),
  }),
  blobQuery: z.strictObject({
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256)')
      .optional(),
  }),
  pair: z.strictObject({
    token: z.string().min(1, 'expected the invite token'),
    name: z.string().min(1).max(200).optional(),
  }),
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const parsed = schema.safeParse(value ?? {})
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const path = [where, ...issue.path.map(String)].join('.')
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown ${issue.keys.map((key) => `"${key}"`).join(', ')}`
      : issue.message
  throw new ObjectSyncError('INVALID_REQUEST', `${path}: ${message}`, { details: { path } })
}

function objectJson(object: StoredObject) {
  return {
    id: object.id,
    type: object.type,
    fields: object.fields,
    custom: object.custom,
    deleted: object.deleted,
    updatedAt: object.updatedAt,
    conflicts: object.conflicts,
  }
}

/** Equal-time comparison of the presented token with ours (hashes have equal lengths). */
function tokenMatches(presented: string, token: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(presented), digest(token))
}

/** One route: what the OpenAPI document says of it, and what it does. */
interface Route {
  method: Extract<HTTPMethods, 'GET' | 'POST' | 'PATCH' | 'DELETE'>
  url: string
  summary: string
  /** Answered without the token: it holds no data. */
  public?: boolean
  query?: z.ZodType
  body?: z.ZodType
  /** The media type of a body taken as raw bytes (streamed, not parsed). */
  rawBody?: string
  /** The status of a successful answer, and its media type when not JSON. */
  ok?: { status: number; type?: string }
  handler: (request: FastifyRequest, reply: FastifyReply) => unknown
}

const STATUS_PAGE_FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/status.js': { file: 'status.js', type: 'text/javascript; charset=utf-8' },
  '/status.css': { file: 'status.css', type: 'text/css; charset=utf-8' },
} as const

export function createApi(instance: Instance, options: ApiOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: BODY_LIMIT_BYTES, logger: false })
  const names = ['127.0.0.1', 'localhost', '[::1]']
  const routes: Route[] = []
  const publicUrls = new Set<string>()
  const add = (route: Route) => {
    routes.push(route)
    if (route.public === true) publicUrls.add(route.url)
    app.route({ method: route.method, url: route.url, handler: route.handler })
  }

  app.addHook('onRequest', (request, _reply, done) => {
    // A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) sends its
    // own name as Host; a cross-site request sends its Origin.
    const host = request.headers.host ?? ''
    const port = options.port()
    if (!names.some((name) => host === `${name}:${port}`)) {
      done(new ObjectSyncError('FORBIDDEN', `Host ${JSON.stringify(host)} is not this API`))
      return
    }
    const origin = request.headers.origin
    if (origin !== undefined && !names.some((name) => origin === `http://${name}:${port}`)) {
      done(
        new ObjectSyncError('FORBIDDEN', `Origin ${JSON.stringify(origin)} may not use this API`),
      )
      return
    }
    if (request.method === 'GET' && publicUrls.has(request.routeOptions.url ?? '')) {
      done()
      return
    }
    const header = request.headers.authorization ?? ''
    const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : ''
    if (presented === '' || !tokenMatches(presented, options.token)) {
      done(
        new ObjectSyncError(
          'UNAUTHORIZED',
          'expected "Authorization: Bearer <the token in DIR/api-token>"',
        ),
      )
      return
    }
    done()
  })

  app.setErrorHandler((error, _request, reply) => {
    if (isObjectSyncError(error)) {
      return reply
        .status(ERROR_CODES[error.code].status)
        .send({ error: { code: error.code, message: error.message } })
    }
    const fastifyError = error as { code?: string; statusCode?: number; message: string }
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({
        error: { code: 'BODY_TOO_LARGE', message: `the body is over ${BODY_LIMIT_BYTES} bytes` },
      })
    }
    if (fastifyError.statusCode !== undefined && fastifyError.statusCode < 500) {
      return reply.status(400).send({
        error: { code: 'INVALID_REQUEST', message: fastifyError.message },
      })
    }
    options.logger?.error({ err: error }, 'API request failed')
    return reply.status(500).send({
      error: { code: 'INTERNAL', message: 'the request failed; the daemon log has the details' },
    })
  })
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` },
    }),
  )

  // File contents come as raw bytes: handed to the route as the request stream, so that
  // a large file is written chunk by chunk, never held whole (bodyLimit does not apply).
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) =>
    done(null, payload),
  )

  const { store, local, registry } = instance
  const { events } = options
  const metrics = createMetrics(instance)
  const streams = new Set<() => void>()
  // Open event streams would hold the server open: they are cut before it closes.
  app.addHook('preClose', (done) => {
    for (const end of streams) end()
    done()
  })
  app.addHook('onClose', (_app, done) => {
    metrics.stop()
    done()
  })
  const id = (request: FastifyRequest) => (request.params as { id: string }).id as ObjectId

  // ── the status page and what describes the API ──────────────────────────────────
  for (const [url, { file, type }] of Object.entries(STATUS_PAGE_FILES)) {
    const content = readFileSync(new URL(`./status-page/${file}`, import.meta.url))
    add({
      method: 'GET',
      url,
      summary: url === '/' ? 'The status page' : `The status page's ${file}`,
      public: true,
      ok: { status: 200, type: type.split(';')[0]! },
      handler: (_request, reply) =>
        reply
          .type(type)
          .header(
            'content-security-policy',
            "default-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
          )
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer')
          .send(content),
    })
  }
  add({
    method: 'GET',
    url: '/healthz',
    summary: 'Whether the daemon answers',
    public: true,
    handler: () => ({ ok: true }),
  })
  add({
    method: 'GET',
    url: '/openapi.json',
    summary: 'This description of the API (OpenAPI 3.1)',
    public: true,
    handler: () => openApiDocument(routes),
  })
  add({
    method: 'GET',
    url: '/metrics',
    summary: 'The instance in Prometheus text format',
    ok: { status: 200, type: 'text/plain' },
    handler: async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
  })

  // ── the instance and its peers ──────────────────────────────────────────────────
  add({
    method: 'GET',
    url: '/v1/status',
    summary: 'The instance: objects by type, feed position, peers, conflicts, matches, bad rows',
    handler: async () => {
      const objects = Object.fromEntries(
        await Promise.all(OBJECT_TYPES.map(async (type) => [type, await store.count(type)])),
      ) as Record<string, number>
      return {
        id: instance.id,
        name: instance.name,
        objects,
        lastSeq: store.lastSeq,
        peers: peerViews(instance),
        conflicts: (await store.listConflicts()).length,
        matches: (await local.reviewQueue()).length,
        badRows: local.badRows(),
      }
    },
  })
  add({
    method: 'GET',
    url: '/v1/events',
    summary: 'Server-sent events: change, peer, conflict, match and sync',
    ok: { status: 200, type: 'text/event-stream' },
    handler: (_request, reply) => streamEvents(reply),
  })
  add({
    method: 'GET',
    url: '/v1/peers',
    summary: 'Paired peers and their sync state',
    handler: () => ({ peers: peerViews(instance) }),
  })
  add({
    method: 'POST',
    url: '/v1/invites',
    summary: 'A one-time pairing token for another instance (treat it as a secret)',
    body: schemas.invite,
    ok: { status: 201 },
    handler: (request, reply) => {
      const body = parse(schemas.invite, request.body, 'body')
      const ttlMs = parseDuration(body.expires ?? '1h')!
      const token = instance.links.createInvite(ttlMs)
      return reply
        .status(201)
        .send({ token, expiresAt: new Date(Date.now() + ttlMs).toISOString() })
    },
  })
  add({
    method: 'POST',
    url: '/v1/pair',
    summary: "Pairs with the instance whose invite token this is; `name` is what it's called here",
    body: schemas.pair,
    ok: { status: 201 },
    handler: async (request, reply) => {
      const body = parse(schemas.pair, request.body, 'body')
      const paired = await instance.links.pair(body.token)
      const peer = body.name === undefined ? paired : await registry.rename(paired.id, body.name)
      // Told to the event stream by the engine, as on the inviting side.
      instance.engine.connect(peer.id)
      return reply.status(201).send({ id: peer.id, name: peer.name, addresses: peer.addresses })
    },
  })
  add({
    method: 'DELETE',
    url: '/v1/peers/:id',
    summary: "Unpairs a peer: its entry and key are removed and it can't connect any more",
    ok: { status: 204 },
    handler: async (request, reply) => {
      const peer = (request.params as { id: string }).id as InstanceId
      instance.engine.disconnect(peer)
      if (!(await instance.links.unpair(peer))) {
        throw new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${peer}`)
      }
      events.peerChanged(peer)
      return reply.status(204).send()
    },
  })

  // ── objects and the feed ────────────────────────────────────────────────────────
  add({
    method: 'GET',
    url: '/v1/objects',
    summary: 'A page of objects of one type: { items, next }',
    query: schemas.listQuery,
    handler: async (request) => {
      const query = parse(schemas.listQuery, request.query, 'query')
      const page = await store.list(query.type, {
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.after === undefined ? {} : { after: query.after }),
      })
      return { items: page.items.map(objectJson), next: page.next ?? null }
    },
  })
  add({
    method: 'GET',
    url: '/v1/objects/:id',
    summary: 'One object',
    handler: async (request) => {
      const object = await store.get(id(request))
      if (object === undefined) {
        throw new ObjectSyncError('OBJECT_NOT_FOUND', `no object has the id ${id(request)}`)
      }
      return objectJson(object)
    },
  })
  add({
    method: 'POST',
    url: '/v1/objects',
    summary: 'Creates an object',
    body: schemas.create,
    ok: { status: 201 },
    handler: async (request, reply) => {
      const body = parse(schemas.create, request.body, 'body')
      const created = await store.create({
        type: body.type,
        fields: body.fields as never,
        ...(body.custom === undefined ? {} : { custom: body.custom as never }),
      })
      return reply.status(201).send(objectJson(created))
    },
  })
  add({
    method: 'PATCH',
    url: '/v1/objects/:id',
    summary: 'Changes fields (null clears one)',
    body: schemas.patch,
    handler: async (request) => {
      const body = parse(schemas.patch, request.body, 'body')
      return objectJson(await store.update(id(request), body as never))
    },
  })
  add({
    method: 'DELETE',
    url: '/v1/objects/:id',
    summary: 'Deletes an object (a tombstone that syncs)',
    ok: { status: 204 },
    handler: async (request, reply) => {
      await store.delete(id(request))
      return reply.status(204).send()
    },
  })
  // ── file contents ─────────────────────────────────────────────────────────────────
  add({
    method: 'POST',
    url: '/v1/blobs',
    summary:
      "Stores a file's content (the raw body, at most files.maxBytes): { sha256, size }; `sha256` checks it",
    query: schemas.blobQuery,
    rawBody: 'application/octet-stream',
    ok: { status: 201 },
    handler: async (request, reply) => {
      const { sha256 } = parse(schemas.blobQuery, request.query, 'query')
      const body = request.body
      if (!(body instanceof Readable)) {
        throw new ObjectSyncError(
          'INVALID_REQUEST',
          'body: expected the file content as Content-Type application/octet-stream',
          { details: { path: 'body' } },
        )
      }
      try {
        const length = Number(request.headers['content-length'])
        if (Number.isSafeInteger(length) && length > store.blobs.maxBytes) {
          throw new ObjectSyncError(
            'BLOB_TOO_LARGE',
            `the file is larger than the limit of ${store.blobs.maxBytes} bytes (files.maxBytes)`,
            { details: { maxBytes: store.blobs.maxBytes, size: length } },
          )
        }
        const manifest = await store.blobs.putStream(body, sha256)
        return await reply.status(201).send({ sha256: manifest.sha256, size: manifest.size })
      } catch (error) {
        // Read the rest and drop it, so the client gets the answer rather than a reset.
        body.resume()
        throw error
      }
    },
  })
  add({
    method: 'GET',
    url: '/v1/blobs/:sha256',
    summary: "A file's content, as stored under its sha256",
    ok: { status: 200, type: 'application/octet-stream' },
    handler: async (request, reply) => {
      const { sha256 } = request.params as { sha256: string }
      const manifest = await store.blobs.manifest(sha256)
      if (manifest === undefined) {
        throw new ObjectSyncError('BLOB_NOT_FOUND', `no blob ${sha256} is held here`, {
          details: { sha256 },
        })
      }
      return reply
        .type('application/octet-stream')
        .header('content-length', manifest.size)
        .send(Readable.from(store.blobs.stream(sha256)))
    },
  })

  add({
    method: 'GET',
    url: '/v1/changes',
    summary: 'The feed after `since`: { changes: [{ seq, id, type }], last }',
    query: schemas.changesQuery,
    handler: async (request) => {
      const { since } = parse(schemas.changesQuery, request.query, 'query')
      const entries = await store.readFeed(since, 1000)
      return {
        changes: entries.map((entry) => ({ seq: entry.seq, id: entry.object, type: entry.type })),
        last: entries.at(-1)?.seq ?? since,
      }
    },
  })

  // ── the conflict inbox and the match review ─────────────────────────────────────
  add({
    method: 'GET',
    url: '/v1/conflicts',
    summary: 'The conflict inbox: per field, the value shown and the values that lost',
    handler: async () => ({ conflicts: await store.listConflicts() }),
  })
  add({
    method: 'POST',
    url: '/v1/conflicts/:id/resolve',
    summary: 'Keeps one value of a conflict (the one shown, or one that lost: a restore)',
    body: schemas.resolve,
    handler: async (request) => {
      const body = parse(schemas.resolve, request.body, 'body')
      return objectJson(await store.resolveConflict(id(request), body.field, body))
    },
  })
  add({
    method: 'GET',
    url: '/v1/matches',
    summary: "First-sync matches waiting for review, with the object's and the records' fields",
    handler: async () => {
      const queue = await local.reviewQueue()
      const matches = await Promise.all(
        queue.map(async (match) => ({
          ...match,
          fields: (await store.get(match.object))?.fields ?? null,
          records: await Promise.all(
            match.candidates.map(async (key) => ({
              key,
              fields: (await local.readRecord(match.type, key)) ?? null,
            })),
          ),
        })),
      )
      return { matches }
    },
  })
  const waiting = async (request: FastifyRequest) => {
    const match = (await local.reviewQueue()).find((entry) => entry.object === id(request))
    if (match === undefined) {
      throw new ObjectSyncError(
        'MATCH_NOT_FOUND',
        `no object ${id(request)} waits in the review queue`,
      )
    }
    return match
  }
  add({
    method: 'POST',
    url: '/v1/matches/:id/link',
    summary: 'The object is the local record `key` (one of the candidates)',
    body: schemas.link,
    handler: async (request) => {
      const body = parse(schemas.link, request.body, 'body')
      const match = await waiting(request)
      if (!match.candidates.includes(body.key)) {
        throw new ObjectSyncError(
          'INVALID_REQUEST',
          `body.key: expected one of the candidates ${match.candidates.join(', ')}`,
          { details: { path: 'body.key' } },
        )
      }
      await local.resolveMatch(match.object, { link: body.key })
      return { ok: true }
    },
  })
  add({
    method: 'POST',
    url: '/v1/matches/:id/separate',
    summary: 'The object is none of the candidates: it becomes a new local record',
    handler: async (request) => {
      const match = await waiting(request)
      await local.resolveMatch(match.object, 'separate')
      return { ok: true }
    },
  })
  add({
    method: 'GET',
    url: '/v1/plan',
    summary: 'What the next run would do, per peer, each way (writes nothing)',
    query: schemas.planQuery,
    handler: async (request) => {
      const query = parse(schemas.planQuery, request.query, 'query')
      const peers = registry.list().map((peer) => peer.id)
      return local.plan({
        peers,
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        inScope: (peer, type, fields, object) => {
          const scope = instance.scopeOf(peer)
          if (!scope.types.includes(type)) return false
          const filter = scope.objectFilter(type)
          return filter === undefined || filter(fields, object ?? ('' as ObjectId), 'out')
        },
      })
    },
  })

  /** GET /v1/events: every event as `event: <name>` and `data: <json>`, until the client goes. */
  function streamEvents(reply: FastifyReply): void {
    reply.hijack()
    const out = reply.raw
    out.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    })
    // The peers' state first, so a client starts from what is, then hears what changes.
    out.write('retry: 2000\n\n')
    for (const peer of peerViews(instance)) out.write(frame({ event: 'peer', data: peer }))
    // Destroyed, not ended: ending waits for a client that may never read again, and an
    // open connection keeps the daemon from stopping.
    const end = () => {
      unsubscribe()
      clearInterval(heartbeat)
      streams.delete(end)
      out.destroy()
    }
    const unsubscribe = events.on('event', (event) => {
      // A client that stopped reading must not make the daemon buffer without bound.
      if (out.writableLength > (options.eventBufferBytes ?? EVENT_STREAM_BUFFER_BYTES)) {
        options.logger?.warn('event stream closed: the client reads too slowly')
        end()
        return
      }
      out.write(frame(event))
    })
    const heartbeat = setInterval(() => out.write(': still here\n\n'), EVENT_HEARTBEAT_MS)
    streams.add(end)
    out.on('close', end)
  }

  return app
}

function frame(event: DaemonEvent): string {
  return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`
}

/** The OpenAPI 3.1 description of `routes`, their bodies and queries from the zod schemas. */
function openApiDocument(routes: readonly Route[]) {
  const errorBody = {
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
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const path = route.url.replace(/:(\w+)/g, '{$1}')
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
    const ok = route.ok ?? { status: 200 }
    paths[path] = {
      ...paths[path],
      [route.method.toLowerCase()]: {
        summary: route.summary,
        ...(route.public === true ? { security: [] } : {}),
        parameters: [...pathParameters, ...queryParameters],
        ...(route.rawBody === undefined
          ? {}
          : {
              requestBody: {
                required: true,
                content: { [route.rawBody]: { schema: { type: 'string', format: 'binary' } } },
              },
            }),
        ...(route.body === undefined
          ? {}
          : {
              requestBody: {
                required: true,
                content: {
                  'application/json': { schema: z.toJSONSchema(route.body, { io: 'input' }) },
                },
              },
            }),
        responses: {
          [ok.status]: {
            description: 'success',
            ...(ok.status === 204 ? {} : { content: { [ok.type ?? 'application/json']: {} } }),
          },
          default: {
            description: 'an error, with its stable code',
            content: { 'application/json': { schema: errorBody } },
          },
        },
      },
    }
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

interface JsonSchema {
  properties?: Record<string, unknown>
  required?: string[]
}
