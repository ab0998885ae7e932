// The peer link: libp2p admitting only paired peers, and PeerLinks handing each peer's
// sealed channel on. It starts before the sync engine exists, so what it hands on goes to
// whatever engine `handTo` names by then. Frames refused are counted here by peer and reason.
import type { Identity } from '../../src/net/index.ts'
import {
  PeerLinks,
  createLibp2pTransport,
  type PeerRegistry,
  type RefusalReason,
  type SealedChannel,
  type Transport,
} from '../../src/net/index.ts'
import type { Logger } from '../../src/log.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { InstanceConfig } from '../config.ts'
import type { StopStack } from './stop-stack.ts'

/** Where channels and new peers go once the sync engine is built. */
export interface ChannelReceiver {
  accept(channel: SealedChannel): void
  connect(peer: InstanceId): void
  noteRefusal(peer: InstanceId, reason: string): void
}

export interface PeerLink {
  links: PeerLinks
  transport: Transport
  refusedFrames: () => { peer: InstanceId; reason: RefusalReason; count: number }[]
}

/** Starts the transport, then the links over it; pushes their stops onto `stops` as each starts. */
export async function startPeerLink(parts: {
  identity: Identity
  registry: PeerRegistry
  config: InstanceConfig
  log: Logger
  stops: StopStack
  handTo: { receiver?: ChannelReceiver }
}): Promise<PeerLink> {
  const { handTo, log } = parts
  const refused = new Map<InstanceId, Map<RefusalReason, number>>()
  const links = new PeerLinks({
    registry: parts.registry,
    name: parts.config.name,
    logger: log,
    onChannel: (channel) => handTo.receiver?.accept(channel),
    // The inviting side keeps a session with its new peer too (and redials it after a loss).
    onPaired: (peer) => handTo.receiver?.connect(peer.id),
    onOpenRefused: (peer, error) => handTo.receiver?.noteRefusal(peer, error.message),
    onRefused: (peer, reason) => {
      const reasons = refused.get(peer) ?? new Map<RefusalReason, number>()
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
      refused.set(peer, reasons)
    },
  })
  const { registry } = parts
  const transport = await createLibp2pTransport({
    privateKey: parts.identity.privateKey,
    listen: parts.config.listen,
    gate: links.admits,
    logger: log,
    relay: {
      serve: parts.config.relay.serve,
      through: registry
        .list()
        .filter((peer) => peer.relay === true)
        .map((peer) => ({ id: peer.id, addresses: registry.dialAddresses(peer.id) })),
      paired: (peer) => registry.has(peer),
    },
    onAddresses: (peer, seen) => registry.noteAddresses(peer, seen),
  })
  parts.stops.push(() => registry.flush())
  await transport.start()
  parts.stops.push(() => transport.stop())
  await links.start(transport)
  parts.stops.push(() => links.stop())
  return {
    links,
    transport,
    refusedFrames: () =>
      [...refused].flatMap(([peer, reasons]) =>
        [...reasons].map(([reason, count]) => ({ peer, reason, count })),
      ),
  }
}
