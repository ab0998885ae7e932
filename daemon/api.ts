// The local HTTP API (INTERFACE.md): loopback only, a bearer token on every request but
// GET /healthz, Host and Origin checked (DNS rebinding, cross-site requests), bodies of
// at most 1 MiB, every body and query checked with zod, and one catalogue of stable
// error codes: `{ "error": { "code", "message" } }` with the code's status.
import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { z } from 'zod'
import { ERROR_CODES, ObjectSyncError, isObjectSyncError } from '../src/errors.ts'
import type { Logger } from '../src/log.ts'
import { OBJECT_TYPES, parseDuration, type InstanceId, type ObjectId } from '../src/model/index.ts'
import type { StoredObject } from '../src/store/index.ts'
import type { Instance } from './instance.ts'

export const BODY_LIMIT_BYTES = 1024 * 1024

export interface ApiOptions {
  token: string
  /** The port the API listens on: requests must name it in Host (and Origin, if any). */
  port: () => number
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
  pair: z.strictObject({ token: z.string().min(1, 'expected the invite token') }),
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

export function createApi(instance: Instance, options: ApiOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: BODY_LIMIT_BYTES, logger: false })
  const names = ['127.0.0.1', 'localhost', '[::1]']

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
    if (request.url === '/healthz') {
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

  const { store, local, registry } = instance
  const id = (request: FastifyRequest) => (request.params as { id: string }).id as ObjectId

  app.get('/healthz', () => ({ ok: true }))

  app.get('/v1/status', async () => {
    const objects = Object.fromEntries(
      await Promise.all(OBJECT_TYPES.map(async (type) => [type, await store.count(type)])),
    ) as Record<string, number>
    return {
      id: instance.id,
      name: instance.name,
      objects,
      lastSeq: store.lastSeq,
      peers: peersJson(instance),
      conflicts: (await store.listConflicts()).length,
      matches: (await local.reviewQueue()).length,
      badRows: local.badRows(),
    }
  })

  app.get('/v1/peers', () => ({ peers: peersJson(instance) }))

  app.post('/v1/invites', (request, reply) => {
    const body = parse(schemas.invite, request.body, 'body')
    const ttlMs = parseDuration(body.expires ?? '1h')!
    const token = instance.links.createInvite(ttlMs)
    return reply.status(201).send({ token, expiresAt: new Date(Date.now() + ttlMs).toISOString() })
  })

  app.post('/v1/pair', async (request, reply) => {
    const body = parse(schemas.pair, request.body, 'body')
    const peer = await instance.links.pair(body.token)
    instance.engine.connect(peer.id)
    return reply.status(201).send({ id: peer.id, name: peer.name, addresses: peer.addresses })
  })

  app.delete('/v1/peers/:id', async (request, reply) => {
    const peer = (request.params as { id: string }).id as InstanceId
    instance.engine.disconnect(peer)
    if (!(await instance.links.unpair(peer))) {
      throw new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${peer}`)
    }
    return reply.status(204).send()
  })

  app.get('/v1/objects', async (request) => {
    const query = parse(schemas.listQuery, request.query, 'query')
    const page = await store.list(query.type, {
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      ...(query.after === undefined ? {} : { after: query.after }),
    })
    return { items: page.items.map(objectJson), next: page.next ?? null }
  })

  app.get('/v1/objects/:id', async (request) => {
    const object = await store.get(id(request))
    if (object === undefined) {
      throw new ObjectSyncError('OBJECT_NOT_FOUND', `no object has the id ${id(request)}`)
    }
    return objectJson(object)
  })

  app.post('/v1/objects', async (request, reply) => {
    const body = parse(schemas.create, request.body, 'body')
    const created = await store.create({
      type: body.type,
      fields: body.fields as never,
      ...(body.custom === undefined ? {} : { custom: body.custom as never }),
    })
    return reply.status(201).send(objectJson(created))
  })

  app.patch('/v1/objects/:id', async (request) => {
    const body = parse(schemas.patch, request.body, 'body')
    return objectJson(await store.update(id(request), body as never))
  })

  app.delete('/v1/objects/:id', async (request, reply) => {
    await store.delete(id(request))
    return reply.status(204).send()
  })

  app.get('/v1/changes', async (request) => {
    const { since } = parse(schemas.changesQuery, request.query, 'query')
    const entries = await store.readFeed(since, 1000)
    return {
      changes: entries.map((entry) => ({ seq: entry.seq, id: entry.object, type: entry.type })),
      last: entries.at(-1)?.seq ?? since,
    }
  })

  app.get('/v1/conflicts', async () => ({ conflicts: await store.listConflicts() }))

  app.post('/v1/conflicts/:id/resolve', async (request) => {
    const body = parse(schemas.resolve, request.body, 'body')
    return objectJson(await store.resolveConflict(id(request), body.field, body))
  })

  app.get('/v1/matches', async () => ({ matches: await local.reviewQueue() }))

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
  app.post('/v1/matches/:id/link', async (request) => {
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
  })
  app.post('/v1/matches/:id/separate', async (request) => {
    const match = await waiting(request)
    await local.resolveMatch(match.object, 'separate')
    return { ok: true }
  })

  app.get('/v1/plan', async (request) => {
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
  })

  return app
}

function peersJson(instance: Instance) {
  return instance.registry.list().map((peer) => {
    const state = instance.engine.state(peer.id)
    return {
      id: peer.id,
      name: peer.name,
      addresses: peer.addresses,
      connected: state.connected,
      lastSyncAt: state.lastSyncAt ?? null,
      pendingIn: state.pendingIn,
      pendingOut: state.pendingOut,
      progress: state.progress ?? null,
    }
  })
}
