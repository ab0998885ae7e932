// Paired peers, and pairing: GET /v1/peers, an invite for another instance, pairing with
// one by its invite token, unpairing, and changing a peer while the daemon runs (its
// name, pausing it, its share, with a preview of what a new share would send and withdraw).
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import { ObjectSyncError } from '../../src/errors.ts'
import { parseDuration, type InstanceId } from '../../src/model/index.ts'
import { peerView, peerViews, type EventHub } from '../events.ts'
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

/** The peer the route's `:id` names: PEER_NOT_FOUND before anything else is looked at. */
function pairedPeer(instance: Instance, request: FastifyRequest): InstanceId {
  const peer = idParam<InstanceId>(request)
  if (!instance.registry.has(peer)) {
    throw new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${peer}`)
  }
  return peer
}

async function changePeer({ instance, events }: PeerRoutesOptions, request: FastifyRequest) {
  const peer = pairedPeer(instance, request)
  const body = parse(schemas.peerPatch, request.body, 'body')
  const { peerEditor } = instance
  // Checked before anything is written: a share refused leaves peers.json as it was.
  const share = body.share === undefined ? undefined : peerEditor.checkShare(body.share, 'body')
  await peerEditor.update(peer, {
    ...(body.name === undefined ? {} : { name: body.name }),
    ...(body.paused === undefined ? {} : { paused: body.paused }),
    ...(share === undefined ? {} : { share }),
  })
  events.peerChanged(peer)
  const view = peerView(instance, peer)
  // Unpaired meanwhile (a DELETE that came in between).
  if (view === undefined) {
    throw new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${peer}`)
  }
  return view
}

function previewShare(instance: Instance, request: FastifyRequest) {
  const peer = pairedPeer(instance, request)
  const body = parse(schemas.sharePreview, request.body, 'body')
  const { peerEditor } = instance
  return peerEditor.preview(peer, peerEditor.checkShare(body.share, 'body'))
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
    method: 'PATCH',
    url: '/v1/peers/:id',
    summary:
      'Changes a peer while the daemon runs: `name`, `paused` (no session either way until resumed), `share` (its scope; the session restarts under it). Written to peers.json; answers the peer as GET /v1/peers shows it',
    body: schemas.peerPatch,
    handler: (request) => changePeer(options, request),
  })
  addRoute(app, {
    method: 'POST',
    url: '/v1/peers/:id/share-preview',
    summary:
      'What saving `share` for the peer would send (records newly in scope) and withdraw (records leaving it), per type with a few examples; writes nothing',
    body: schemas.sharePreview,
    handler: (request) => previewShare(instance, request),
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
