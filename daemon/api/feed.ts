// GET /v1/changes: the store's feed after a position, 1,000 entries at a time.
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import type { ObjectStore } from '../../src/store/index.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { changeView } from '../events.ts'
import { addRoute } from './route.ts'
import { parse, schemas } from './schemas.ts'

/** Feed entries per answer; a client asks again from `last` for more. */
const CHANGES_PER_PAGE = 1000

export interface FeedRoutesOptions {
  store: ObjectStore
  /** This instance: its own changes taken in from the local system are marked `local`. */
  self: InstanceId
}

async function changes(store: ObjectStore, self: InstanceId, request: FastifyRequest) {
  const { since } = parse(schemas.changesQuery, request.query, 'query')
  const entries = await store.readFeed(since, CHANGES_PER_PAGE)
  return {
    changes: entries.map((entry) => changeView(entry, self)),
    last: entries.at(-1)?.seq ?? since,
  }
}

export const feedRoutes: FastifyPluginCallback<FeedRoutesOptions> = (
  app,
  { store, self },
  done,
) => {
  addRoute(app, {
    method: 'GET',
    url: '/v1/changes',
    summary:
      'The feed after `since`: { changes: [{ seq, id, type, from?, local? }], last } (`from`: the peer a change arrived from; `local`: taken in from the local system)',
    query: schemas.changesQuery,
    handler: (request) => changes(store, self, request),
  })
  done()
}
