// GET /v1/status: the instance at a glance, as `objectsync status` and the status page
// show it.
import type { FastifyPluginCallback } from 'fastify'
import { OBJECT_TYPES } from '../../src/model/index.ts'
import { localSystemView, peerViews } from '../events.ts'
import type { Instance } from '../instance.ts'
import { addRoute } from './route.ts'

export interface StatusRoutesOptions {
  instance: Instance
}

async function instanceStatus(instance: Instance) {
  const { store, local } = instance
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
    localSystem: {
      ...localSystemView(local.localSystem()),
      retrying: await local.waitingToRetry(),
    },
  }
}

export const statusRoutes: FastifyPluginCallback<StatusRoutesOptions> = (
  app,
  { instance },
  done,
) => {
  addRoute(app, {
    method: 'GET',
    url: '/v1/status',
    summary:
      'The instance: objects by type, feed position, peers, conflicts, matches, bad rows, whether the local system answers',
    handler: () => instanceStatus(instance),
  })
  done()
}
