// GET /v1/merges: the merges the store holds, the last decided first — each merged object,
// the object that stands for it now, who decided (this instance or a peer, by name when
// known) and when, and both objects' names, as the status page lists them beside the
// conflict inbox. Undoing one is POST /v1/objects/:id/unmerge.
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import type { InstanceId, ObjectId, ObjectType } from '../../src/model/index.ts'
import type { MergeRecord, ObjectStore, StoredObject } from '../../src/store/index.ts'
import { addRoute } from './route.ts'
import { parse, schemas } from './schemas.ts'

/** Merges per answer unless `limit` says otherwise (each costs two object reads). */
const DEFAULT_MERGES = 50

/** The fields that name an object of each type to a person, joined by spaces. */
const NAME_FIELDS: Record<ObjectType, readonly string[]> = {
  person: ['firstName', 'lastName'],
  organization: ['name'],
  transaction: ['description'],
  file: ['name'],
}

export interface MergeRoutesOptions {
  store: ObjectStore
  /** The name of this instance or of a paired peer; undefined for an instance not known here. */
  nameOf: (instance: InstanceId) => string | undefined
}

function nameOf(object: StoredObject | undefined): string | null {
  if (object === undefined) return null
  const parts = NAME_FIELDS[object.type].flatMap((field) => {
    const value = object.fields[field]
    return typeof value === 'string' && value !== '' ? [value] : []
  })
  return parts.length === 0 ? null : parts.join(' ')
}

/** A stamp's time as ISO text; null when absent or out of range (a peer's stamp). */
function isoTime(at: number | undefined): string | null {
  if (at === undefined) return null
  const date = new Date(at)
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
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
