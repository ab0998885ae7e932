// The peer link and sync engine of one benchmark instance, composed as the daemon does
// (libp2p on loopback, only paired peers admitted, channels handed to the engine).
import { generatePairKey } from '../src/crypto/index.ts'
import type { InstanceId } from '../src/model/index.ts'
import {
  PeerLinks,
  createLibp2pTransport,
  type Identity,
  type PeerRegistry,
  type Transport,
} from '../src/net/index.ts'
import type { ObjectStore } from '../src/store/index.ts'
import { SyncEngine } from '../src/sync/index.ts'

export async function startSync(
  name: string,
  identity: Identity,
  store: ObjectStore,
  registry: PeerRegistry,
): Promise<{ links: PeerLinks; transport: Transport; engine: SyncEngine }> {
  // The engine needs the links and the links hand channels to the engine.
  const late: { engine?: SyncEngine } = {}
  const links = new PeerLinks({
    registry,
    name,
    onChannel: (channel) => late.engine?.accept(channel),
  })
  const transport = await createLibp2pTransport({
    privateKey: identity.privateKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    gate: links.admits,
  })
  await transport.start()
  await links.start(transport)
  const engine = new SyncEngine({ store, links, localId: identity.id })
  late.engine = engine
  return { links, transport, engine }
}

interface Pairable {
  id: InstanceId
  registry: PeerRegistry
  transport: Transport
}

/** Pairs two instances with a fresh key, as keygen and peers.json would. */
export async function pairRegistries(a: Pairable, b: Pairable): Promise<void> {
  const key = generatePairKey()
  await a.registry.add(
    { id: b.id, name: 'b', addresses: b.transport.addresses() },
    { current: key },
  )
  await b.registry.add(
    { id: a.id, name: 'a', addresses: a.transport.addresses() },
    { current: key },
  )
}
