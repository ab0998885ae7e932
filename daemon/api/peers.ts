// Paired peers, and pairing: GET /v1/peers, an invite for another instance, pairing with
// one by its invite token, and unpairing.
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import { ObjectSyncError } from '../../src/errors.ts'
import { parseDuration, type InstanceId } from '../../src/model/index.ts'
import { peerViews, type EventHub } from '../events.ts'
import type { Instance } from '../instance.ts'
import { addRoute, idParam } from './route.ts'
import { parse, schemas } from './schemas.ts'

export interface PeerRoutesOptions {
  instance: Instance
  /** Told of unpairing, which no other part reports. */
  events: EventHub
}

function invite(instance: Instance, request: FastifyRequest, reply: FastifyReply) {
  const body = parse(schemas.invite, request.body, 'body')
  const ttlMs = parseDuration(body.expires ?? '1h')!
  const token = instance.links.createInvite(ttlMs)
  return reply.status(201).send({ token, expiresAt: new Date(Date.now() + ttlMs).toISOString() })
}

async function pair(instance: Instance, request: FastifyRequest, reply: FastifyReply) {
  const body = parse(schemas.pair, request.body, 'body')
  const paired = await instance.links.pair(body.token)
  const peer =
    body.name === undefined ? paired : await instance.registry.rename(paired.id, body.name)
  // Told to the event stream by the engine, as on the inviting side.
  instance.engine.connect(peer.id)
  return reply.status(201).send({ id: peer.id, name: peer.name, addresses: peer.addresses })
}

async function unpair(
  { instance, events }: PeerRoutesOptions,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const peer = idParam<InstanceId>(request)
  instance.engine.disconnect(peer)
  if (!(await instance.links.unpair(peer))) {
    throw new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${peer}`)
  }
  events.peerChanged(peer)
  return reply.status(204).send()
}

export const peerRoutes: FastifyPluginCallback<PeerRoutesOptions> = (app, options, done) => {
  const { instance } = options
  addRoute(app, {
    method: 'GET',
    url: '/v1/peers',
    summary: 'Paired peers and their sync state',
    handler: () => ({ peers: peerViews(instance) }),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/invites',
    summary: 'A one-time pairing token for another instance (treat it as a secret)',
    body: schemas.invite,
    ok: { status: 201 },
    handler: (request, reply) => invite(instance, request, reply),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/pair',
    summary: "Pairs with the instance whose invite token this is; `name` is what it's called here",
    body: schemas.pair,
    ok: { status: 201 },
    handler: (request, reply) => pair(instance, request, reply),
  })
  addRoute(app, {
    method: 'DELETE',
    url: '/v1/peers/:id',
    summary: "Unpairs a peer: its entry and key are removed and it can't connect any more",
    ok: { status: 204 },
    handler: (request, reply) => unpair(options, request, reply),
  })
  done()
}
