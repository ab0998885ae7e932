// Objects: a page of one type, one object, and creating, changing and deleting one.
// objectJson is how every route that answers with an object shows it.
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import { ObjectSyncError } from '../../src/errors.ts'
import { objectLabel, type ObjectId, type ObjectType } from '../../src/model/index.ts'
import type { ObjectStore, StoredObject } from '../../src/store/index.ts'
import { addRoute, idParam } from './route.ts'
import { parse, schemas } from './schemas.ts'
import { isoTime, writerJson, type NameOf } from './writers.ts'

export interface ObjectRoutesOptions {
  store: ObjectStore
  nameOf: NameOf
  /** The local system's row that stands for an object, if any. */
  recordOf: (id: ObjectId, type: ObjectType) => { table: string; key: string } | undefined
}

export function objectJson(object: StoredObject) {
  return {
    id: object.id,
    type: object.type,
    /** The record's name as people read it (objectLabel), '' without the fields for it. */
    label: objectLabel(object.type, object.fields),
    fields: object.fields,
    custom: object.custom,
    deleted: object.deleted,
    updatedAt: object.updatedAt,
    conflicts: object.conflicts,
    ...(object.mergedInto === undefined ? {} : { mergedInto: object.mergedInto }),
    ...(object.merged === undefined ? {} : { merged: object.merged }),
  }
}

async function listObjects(store: ObjectStore, request: FastifyRequest) {
  const query = parse(schemas.listQuery, request.query, 'query')
  if (query.q !== undefined) {
    const found = await store.search(query.q, {
      ...(query.type === undefined ? {} : { type: query.type }),
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      ...(query.after === undefined ? {} : { after: query.after }),
    })
    return { items: found.items.map(objectJson), next: found.next ?? null }
  }
  const page = await store.list(query.type!, {
    ...(query.limit === undefined ? {} : { limit: query.limit }),
    ...(query.after === undefined ? {} : { after: query.after }),
  })
  return { items: page.items.map(objectJson), next: page.next ?? null }
}

/**
 * One object, with what the record view shows beside it: who last wrote each field and
 * when (`written`, keyed as conflicts are: `firstName`, `custom.<name>`), the group of
 * each custom field, and the row of the local system here that stands for it.
 */
async function getObject(options: ObjectRoutesOptions, request: FastifyRequest) {
  const id = idParam<ObjectId>(request)
  const object = await options.store.get(id)
  if (object === undefined) {
    throw new ObjectSyncError('OBJECT_NOT_FOUND', `no object has the id ${id}`)
  }
  const written = Object.fromEntries(
    Object.entries(object.written).map(([field, { by, at }]) => [
      field,
      { by: writerJson(by, options.nameOf), at: isoTime(at) },
    ]),
  )
  const customGroups: Record<string, string[]> = {}
  for (const name of Object.keys(object.custom)) {
    const group = options.store.customGroupOf(name)
    customGroups[group] = [...(customGroups[group] ?? []), name]
  }
  return {
    ...objectJson(object),
    customGroups,
    written,
    local: options.recordOf(id, object.type) ?? null,
  }
}

async function createObject(store: ObjectStore, request: FastifyRequest, reply: FastifyReply) {
  const body = parse(schemas.create, request.body, 'body')
  const created = await store.create({
    type: body.type,
    fields: body.fields as never,
    ...(body.custom === undefined ? {} : { custom: body.custom as never }),
  })
  return reply.status(201).send(objectJson(created))
}

async function patchObject(store: ObjectStore, request: FastifyRequest) {
  const body = parse(schemas.patch, request.body, 'body')
  return objectJson(await store.update(idParam<ObjectId>(request), body as never))
}

async function mergeObject(store: ObjectStore, request: FastifyRequest) {
  const body = parse(schemas.merge, request.body, 'body')
  const survivor = await store.merge(idParam<ObjectId>(request), body.with)
  return objectJson((await store.get(survivor))!)
}

async function unmergeObject(store: ObjectStore, request: FastifyRequest) {
  const id = idParam<ObjectId>(request)
  await store.unmerge(id)
  return objectJson((await store.get(id))!)
}

async function deleteObject(store: ObjectStore, request: FastifyRequest, reply: FastifyReply) {
  await store.delete(idParam<ObjectId>(request))
  return reply.status(204).send()
}

export const objectRoutes: FastifyPluginCallback<ObjectRoutesOptions> = (app, options, done) => {
  const { store } = options
  addRoute(app, {
    method: 'GET',
    url: '/v1/objects',
    summary:
      'A page of objects of one type, or with `q` the records whose name or email holds every word of it (of every type unless `type` says): { items, next }',
    query: schemas.listQuery,
    handler: (request) => listObjects(store, request),
  })
  addRoute(app, {
    method: 'GET',
    url: '/v1/objects/:id',
    summary:
      'One object, with who last wrote each field and when (`written`) and its row in the local system here (`local`: { table, key } or null)',
    handler: (request) => getObject(options, request),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/objects',
    summary: 'Creates an object',
    body: schemas.create,
    ok: { status: 201 },
    handler: (request, reply) => createObject(store, request, reply),
  })
  addRoute(app, {
    method: 'PATCH',
    url: '/v1/objects/:id',
    summary: 'Changes fields (null clears one)',
    body: schemas.patch,
    handler: (request) => patchObject(store, request),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/objects/:id/merge',
    summary: 'Makes the object and `with` one (the smaller id stays); answers the survivor',
    body: schemas.merge,
    handler: (request) => mergeObject(store, request),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/objects/:id/unmerge',
    summary: 'Undoes the merge the object records: it stands alone again; answers it',
    handler: (request) => unmergeObject(store, request),
  })
  addRoute(app, {
    method: 'DELETE',
    url: '/v1/objects/:id',
    summary: 'Deletes an object (a tombstone that syncs)',
    ok: { status: 204 },
    handler: (request, reply) => deleteObject(store, request, reply),
  })
  done()
}
