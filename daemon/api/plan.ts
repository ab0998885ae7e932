// GET /v1/plan: the dry run of the next local-system run, per peer, each way (it writes
// nothing), within what each peer's scope lets out.
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import type { LocalSync } from '../../src/local/index.ts'
import type { ObjectId } from '../../src/model/index.ts'
import type { PeerRegistry } from '../../src/net/index.ts'
import type { Instance } from '../instance.ts'
import { addRoute } from './route.ts'
import { parse, schemas } from './schemas.ts'

export interface PlanRoutesOptions {
  local: LocalSync
  registry: PeerRegistry
  scopeOf: Instance['scopeOf']
}

async function plan({ local, registry, scopeOf }: PlanRoutesOptions, request: FastifyRequest) {
  const query = parse(schemas.planQuery, request.query, 'query')
  const peers = registry.list().map((peer) => peer.id)
  return local.plan({
    peers,
    ...(query.limit === undefined ? {} : { limit: query.limit }),
    inScope: (peer, type, fields, object) => {
      const scope = scopeOf(peer)
      if (!scope.types.includes(type)) return false
      const filter = scope.objectFilter(type)
      return filter === undefined || filter(fields, object ?? ('' as ObjectId), 'out')
    },
  })
}

export const planRoutes: FastifyPluginCallback<PlanRoutesOptions> = (app, options, done) => {
  addRoute(app, {
    method: 'GET',
    url: '/v1/plan',
    summary: 'What the next run would do, per peer, each way (writes nothing)',
    query: schemas.planQuery,
    handler: (request) => plan(options, request),
  })
  done()
}
