// The transport edge: authenticated byte streams between instances, by protocol. The
// peer link knows only this interface; libp2p (TCP, Noise, yamux) and an in-process
// memory network implement it and pass one conformance suite.
import type { InstanceId } from '../model/index.ts'
import type { ByteStream, StreamHandler } from './byte-stream.ts'
import type { RelayPath } from './relay-addresses.ts'

/** Decides which instances may hold a connection with this one at all. */
export type ConnectionGate = (remote: InstanceId) => boolean

export interface DialOptions {
  signal?: AbortSignal
}

export interface Transport {
  readonly localId: InstanceId
  start(): Promise<void>
  stop(): Promise<void>
  /** Addresses other instances can dial, e.g. /ip4/127.0.0.1/tcp/7400. */
  addresses(): string[]
  /**
   * Whether an address another instance suggests (in an invite) may be dialled: one of
   * this transport's, and for libp2p an IP or DNS host over TCP or a relay's circuit.
   */
  dialable(address: string): boolean
  /** Calls `handler` for every stream a peer the gate admits opens on `protocol`. */
  handle(protocol: string, handler: StreamHandler): Promise<void>
  /**
   * Opens a stream to `remote` at one of `addresses`. Rejects with PEER_REFUSED when
   * either side's gate refuses, PEER_UNREACHABLE when nothing answers.
   */
  dial(
    remote: InstanceId,
    addresses: readonly string[],
    protocol: string,
    options?: DialOptions,
  ): Promise<ByteStream>
  /** Closes every connection with `remote`. */
  hangUp(remote: InstanceId): Promise<void>
  isConnected(remote: InstanceId): boolean
  /** How `remote` is connected now (direct or through a relay); undefined when it is not. */
  connectionPath?(remote: InstanceId): RelayPath | undefined
  /** The relays this instance holds a reservation at (reachable through them). */
  reservedRelays?(): InstanceId[]
}
