import { join } from 'node:path'
import type { InstanceId } from '../../src/model/index.ts'
import type { SealedChannel } from '../../src/net/index.ts'
import {
  MemoryNetwork,
  PeerLinks,
  PeerRegistry,
  createLibp2pTransport,
  directoryFiles,
  loadOrCreateIdentity,
  type Transport,
} from '../../src/net/index.ts'
import { tempDir } from './stores.ts'

export interface LinkedInstance {
  id: InstanceId
  dir: string
  registry: PeerRegistry
  links: PeerLinks
  transport: Transport
  inbound: SealedChannel[]
  stop(): Promise<void>
}

export type TransportKind = 'libp2p' | 'memory'
const network = new MemoryNetwork()

/** A peer link on real libp2p over loopback TCP (or the memory network), with its files in `dir`. */
export async function startInstance(
  name: string,
  dir = tempDir(`link-${name}`),
  kind: TransportKind = 'libp2p',
): Promise<LinkedInstance> {
  const registry = new PeerRegistry(directoryFiles(dir))
  await registry.load()
  const identity = await loadOrCreateIdentity(join(dir, 'keys'))
  const inbound: SealedChannel[] = []
  const links = new PeerLinks({ registry, name, onChannel: (channel) => inbound.push(channel) })
  const transport =
    kind === 'memory'
      ? network.transport(identity.id, links.admits)
      : await createLibp2pTransport({
          privateKey: identity.privateKey,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          gate: links.admits,
        })
  await transport.start()
  await links.start(transport)
  return {
    id: identity.id,
    dir,
    registry,
    links,
    transport,
    inbound,
    async stop() {
      links.stop()
      await transport.stop()
    },
  }
}

export async function nextInbound(instance: LinkedInstance): Promise<SealedChannel> {
  for (let waited = 0; waited < 5000; waited += 10) {
    const channel = instance.inbound.shift()
    if (channel !== undefined) return channel
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('no inbound channel within 5 s')
}
