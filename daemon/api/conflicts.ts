// The two queues a person works through: the conflict inbox (per field, the value shown
// and the values that lost; keep one) and the first-sync match review (link the object
// to one of the candidate local records, or keep it separate).
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import { ObjectSyncError } from '../../src/errors.ts'
import type { LocalSync } from '../../src/local/index.ts'
import type { ObjectId } from '../../src/model/index.ts'
import type { ObjectStore } from '../../src/store/index.ts'
import { objectJson } from './objects.ts'
import { addRoute, idParam } from './route.ts'
import { parse, schemas } from './schemas.ts'

export interface ConflictRoutesOptions {
  store: ObjectStore
  local: LocalSync
}

async function resolveConflict(store: ObjectStore, request: FastifyRequest) {
  const body = parse(schemas.resolve, request.body, 'body')
  return objectJson(await store.resolveConflict(idParam<ObjectId>(request), body.field, body))
}

/** The review queue, each match with the object's fields and each candidate record's. */
async function matches({ store, local }: ConflictRoutesOptions) {
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
}

/** The match of the object the route names, or MATCH_NOT_FOUND if it waits for none. */
async function waiting(local: LocalSync, request: FastifyRequest) {
  const id = idParam<ObjectId>(request)
  const match = (await local.reviewQueue()).find((entry) => entry.object === id)
  if (match === undefined) {
    throw new ObjectSyncError('MATCH_NOT_FOUND', `no object ${id} waits in the review queue`)
  }
  return match
}

async function link(local: LocalSync, request: FastifyRequest) {
  const body = parse(schemas.link, request.body, 'body')
  const match = await waiting(local, request)
  if (!match.candidates.includes(body.key)) {
    throw new ObjectSyncError(
      'INVALID_REQUEST',
      `body.key: expected one of the candidates ${match.candidates.join(', ')}`,
      { details: { path: 'body.key' } },
    )
  }
  await local.resolveMatch(match.object, { link: body.key })
  return { ok: true }
}

async function separate(local: LocalSync, request: FastifyRequest) {
  const match = await waiting(local, request)
  await local.resolveMatch(match.object, 'separate')
  return { ok: true }
}

export const conflictRoutes: FastifyPluginCallback<ConflictRoutesOptions> = (
  app,
  options,
  done,
) => {
  const { store, local } = options
  addRoute(app, {
    method: 'GET',
    url: '/v1/conflicts',
    summary: 'The conflict inbox: per field, the value shown and the values that lost',
    handler: async () => ({ conflicts: await store.listConflicts() }),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/conflicts/:id/resolve',
    summary: 'Keeps one value of a conflict (the one shown, or one that lost: a restore)',
    body: schemas.resolve,
    handler: (request) => resolveConflict(store, request),
  })
  addRoute(app, {
    method: 'GET',
    url: '/v1/matches',
    summary: "First-sync matches waiting for review, with the object's and the records' fields",
    handler: () => matches(options),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/matches/:id/link',
    summary: 'The object is the local record `key` (one of the candidates)',
    body: schemas.link,
    handler: (request) => link(local, request),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/matches/:id/separate',
    summary: 'The object is none of the candidates: it becomes a new local record',
    handler: (request) => separate(local, request),
  })
  done()
}
