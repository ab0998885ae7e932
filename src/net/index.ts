// The peer link: libp2p (TCP, Noise, yamux) behind a small Transport interface, pairing
// by one-time invite, sealed channels between paired instances, and the registry of
// paired peers. Only paired instances reach the data.
export type { ByteStream, StreamHandler } from './byte-stream.ts'
export type { ConnectionGate, DialOptions, Transport } from './transport.ts'
export { circuitRelay, isCircuit, type RelayPath } from './relay-addresses.ts'
export {
  DEFAULT_LISTEN_ADDRESSES,
  createLibp2pTransport,
  type Libp2pTransportOptions,
  type RelayOptions,
} from './libp2p-transport.ts'
export { MemoryNetwork, MemoryTransport, streamPair } from './memory-transport.ts'
export { createIdentity, identityOf, loadOrCreateIdentity, type Identity } from './identity.ts'
export { MAX_FRAME_BYTES } from './frames.ts'
export {
  MAX_PAYLOAD_BYTES,
  SYNC_PROTOCOL,
  SYNC_PROTOCOL_VERSIONS,
  SealedChannel,
  type ChannelKeys,
  type ChannelTraffic,
  type ProtocolVersions,
  type RefusalReason,
} from './sealed-channel.ts'
export { PAIR_PROTOCOL } from './pairing-protocol.ts'
export {
  PEERS_FILE,
  PeerRegistry,
  directoryFiles,
  memoryFiles,
  type PeerChanges,
  type PeerFiles,
  type PeerRecord,
} from './peer-registry.ts'
export {
  DEFAULT_INVITE_TTL_MS,
  PeerLinks,
  ROTATIONS_PER_HOUR,
  type PeerLinksOptions,
} from './peer-links.ts'
