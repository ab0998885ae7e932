// GET /v1/objects/:id/history: who changed a record, when, and from what to what, read from
// its documents (the store's history.ts), so it reads the same on every instance that
// holds the record. Writers are named as this instance knows them: itself, a paired peer,
// or by id for an instance known only through others.
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import type { ObjectId } from '../../src/model/index.ts'
import type { HistoryEntry, ObjectStore } from '../../src/store/index.ts'
import { addRoute, idParam } from './route.ts'
import { parse, schemas } from './schemas.ts'
import { isoTime, writerJson, type NameOf } from './writers.ts'

export interface HistoryRoutesOptions {
  store: ObjectStore
  nameOf: NameOf
}

function entryJson(entry: HistoryEntry, nameOf: NameOf) {
  return {
    id: entry.id,
    at: isoTime(entry.at),
    // `verified`: the change carries a proof that this instance wrote it; without one,
    // `by` is only what the change claims (any peer can write any stamp).
    by:
      entry.by === undefined
        ? { id: null, name: null, verified: false }
        : { ...writerJson(entry.by, nameOf), verified: entry.verified },
    change: entry.change,
    fields: entry.fields,
    custom: entry.custom,
    ...(entry.object === undefined ? {} : { object: entry.object }),
    ...(entry.into === undefined ? {} : { into: entry.into }),
  }
}

async function history(options: HistoryRoutesOptions, request: FastifyRequest) {
  const query = parse(schemas.historyQuery, request.query, 'query')
  const id = idParam<ObjectId>(request)
  const page = await options.store.history(id, {
    ...(query.limit === undefined ? {} : { limit: query.limit }),
    ...(query.before === undefined ? {} : { before: query.before }),
  })
  return {
    id,
    entries: page.entries.map((entry) => entryJson(entry, options.nameOf)),
    next: page.next,
    omitted: page.omitted,
  }
}

export const historyRoutes: FastifyPluginCallback<HistoryRoutesOptions> = (app, options, done) => {
  addRoute(app, {
    method: 'GET',
    url: '/v1/objects/:id/history',
    summary:
      'Who changed the object, when, and each field from and to, oldest first: { id, entries: [{ id, at, by: { id, name, verified }, change, fields, custom, object?, into? }], next, omitted } (`next`: pass as `before` for older entries)',
    query: schemas.historyQuery,
    handler: (request) => history(options, request),
  })
  done()
}
