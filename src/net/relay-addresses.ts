// Instance ids, and circuit relay addresses: /ip4/…/tcp/…/p2p/<relay>/p2p-circuit[/p2p/<peer>], a peer
// reached through a relay it holds a reservation at.
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { InstanceId } from '../model/index.ts'

/** How a peer is connected: directly, or through a relay (named by its id). */
export type RelayPath = { path: 'direct' } | { path: 'relay'; relay: InstanceId }

/** The relay an address goes through; undefined for a direct address (or none). */
export function circuitRelay(address: string): InstanceId | undefined {
  try {
    const components = multiaddr(address).getComponents()
    const circuit = components.findIndex((component) => component.name === 'p2p-circuit')
    if (circuit < 1) return undefined
    const relay = components[circuit - 1]!
    return relay.name === 'p2p' ? (relay.value as InstanceId) : undefined
  } catch {
    return undefined
  }
}

/** Whether the address reaches a peer through a relay. */
export function isCircuit(address: string): boolean {
  return circuitRelay(address) !== undefined
}

/** The address without a last /p2p/<peer> naming `peer` itself (dials add it again). */
export function withoutPeerId(address: string, peer: string): string {
  const suffix = `/p2p/${peer}`
  return address.endsWith(suffix) ? address.slice(0, -suffix.length) : address
}

/** Whether `id` is an instance id (a libp2p peer id). */
export function isInstanceId(id: string): id is InstanceId {
  try {
    peerIdFromString(id)
    return true
  } catch {
    return false
  }
}
