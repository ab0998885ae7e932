// GET /v1/merges: the merges the store holds, the last decided first — each merged object,
// the object that stands for it now, who decided (this instance or a peer, by name when
// known) and when, and both objects' names, as the status page lists them beside the
// conflict inbox. Undoing one is POST /v1/objects/:id/unmerge.
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import { objectLabel, type ObjectId } from '../../src/model/index.ts'
import type { MergeRecord, ObjectStore, StoredObject } from '../../src/store/index.ts'
import { addRoute } from './route.ts'
import { isoTime, type NameOf } from './writers.ts'
import { parse, schemas } from './schemas.ts'

/** Merges per answer unless `limit` says otherwise (each costs two object reads). */
const DEFAULT_MERGES = 50

export interface MergeRoutesOptions {
  store: ObjectStore
  nameOf: NameOf
}

function nameOf(object: StoredObject | undefined): string | null {
  if (object === undefined) return null
  return objectLabel(object.type, object.fields) || null
}

async function mergeJson(options: MergeRoutesOptions, merge: MergeRecord) {
  const [merged, into] = await Promise.all(
    [merge.object, merge.into].map((id: ObjectId) => options.store.get(id)),
  )
  const by = merge.decided?.by
  return {
    id: merge.object,
    type: merge.type,
    into: merge.into,
    at: isoTime(merge.decided?.at),
    by: by ?? null,
    byName: (by === undefined ? undefined : options.nameOf(by)) ?? null,
    name: nameOf(merged),
    intoName: nameOf(into),
  }
}

async function merges(options: MergeRoutesOptions, request: FastifyRequest) {
  const query = parse(schemas.mergesQuery, request.query, 'query')
  const held = await options.store.listMerges(query.limit ?? DEFAULT_MERGES)
  return { merges: await Promise.all(held.map((merge) => mergeJson(options, merge))) }
}

export const mergeRoutes: FastifyPluginCallback<MergeRoutesOptions> = (app, options, done) => {
  addRoute(app, {
    method: 'GET',
    url: '/v1/merges',
    summary: 'The merges held, the last decided first: who decided, when, and both names',
    query: schemas.mergesQuery,
    handler: (request) => merges(options, request),
  })
  done()
}
