// GET /v1/changes: the store's feed after a position, 1,000 entries at a time.
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import type { ObjectStore } from '../../src/store/index.ts'
import { addRoute } from './route.ts'
import { parse, schemas } from './schemas.ts'

/** Feed entries per answer; a client asks again from `last` for more. */
const CHANGES_PER_PAGE = 1000

export interface FeedRoutesOptions {
  store: ObjectStore
}

async function changes(store: ObjectStore, request: FastifyRequest) {
  const { since } = parse(schemas.changesQuery, request.query, 'query')
  const entries = await store.readFeed(since, CHANGES_PER_PAGE)
  return {
    changes: entries.map((entry) => ({
      seq: entry.seq,
      id: entry.object,
      type: entry.type,
      // The peer it arrived from; absent for this instance's own changes.
      ...(entry.from === undefined ? {} : { from: entry.from }),
    })),
    last: entries.at(-1)?.seq ?? since,
  }
}

export const feedRoutes: FastifyPluginCallback<FeedRoutesOptions> = (app, { store }, done) => {
  addRoute(app, {
    method: 'GET',
    url: '/v1/changes',
    summary:
      'The feed after `since`: { changes: [{ seq, id, type, from? }], last } (`from`: the peer a change arrived from)',
    query: schemas.changesQuery,
    handler: (request) => changes(store, request),
  })
  done()
}
