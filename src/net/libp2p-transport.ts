// The Transport over libp2p 3: TCP, Noise, yamux, identify and ping, and circuit relay v2
// through paired instances. The connection gater asks the ConnectionGate, so an instance
// that is not admitted is refused right after the Noise handshake, before any stream
// opens; a relay serves only connections between its own paired peers.
import { noise } from '@chainsafe/libp2p-noise'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import {
  KEEP_ALIVE,
  type Libp2p,
  type PeerId,
  type PrivateKey,
  type Stream,
} from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { ObjectSyncError } from '../errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import type { InstanceId } from '../model/index.ts'
import { ByteQueue, HIGH_WATER_BYTES, type ByteStream, type StreamHandler } from './byte-stream.ts'
import { addressKind } from './pairing-protocol.ts'
import { circuitRelay, withoutPeerId, type RelayPath } from './relay-addresses.ts'
import { RelayKeeper } from './relay-keeper.ts'
import type { ConnectionGate, DialOptions, Transport } from './transport.ts'

/** Where an instance listens unless its config says otherwise. */
export const DEFAULT_LISTEN_ADDRESSES: readonly string[] = ['/ip4/0.0.0.0/tcp/7400']

export interface Libp2pTransportOptions {
  privateKey: PrivateKey
  /** Multiaddrs to listen on; DEFAULT_LISTEN_ADDRESSES when absent. */
  listen?: readonly string[]
  gate: ConnectionGate
  logger?: Logger
  relay?: RelayOptions
  /**
   * What a connected peer says it listens on (identify), and the address an outbound
   * connection to it was made at: for the registry to dial next time.
   */
  onAddresses?: (peer: InstanceId, seen: { listen?: string[]; dialed?: string }) => void
}

export interface RelayOptions {
  /** Relay connections between paired peers (a reservation for each that asks). */
  serve: boolean
  /** Paired peers to hold a reservation at, and reach through, with their addresses. */
  through: readonly { id: InstanceId; addresses: readonly string[] }[]
  /** Whether an instance is paired (not merely holding an invite): relays serve only those. */
  paired: (remote: InstanceId) => boolean
}

/** A relayed connection may carry a whole first sync: no limit on its bytes or time. */
const RELAY_RESERVATIONS = { applyDefaultLimit: false, maxReservations: 1024 }

// A sealed frame may be 4 MiB; a stream must accept at least one whole frame plus the
// unread backlog at which we pause the sender.
const MAX_BUFFER_BYTES = 8 << 20

export async function createLibp2pTransport(options: Libp2pTransportOptions): Promise<Transport> {
  const log = (options.logger ?? silentLogger).child('libp2p')
  const admitted = (peer: { toString(): string }) => options.gate(peer.toString() as InstanceId)
  const relay = options.relay
  const paired = (peer: PeerId) => relay?.paired(peer.toString() as InstanceId) === true
  const through = relay?.through ?? []
  const node = await createLibp2p({
    privateKey: options.privateKey,
    addresses: {
      // Through relays too, once connected to them (relay-keeper.ts).
      listen: [...(options.listen ?? DEFAULT_LISTEN_ADDRESSES)],
    },
    transports: [tcp(), circuitRelayTransport({ reservationCompletionTimeout: 10_000 })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      ...(relay?.serve === true
        ? { relay: circuitRelayServer({ reservations: RELAY_RESERVATIONS }) }
        : {}),
    },
    connectionGater: {
      denyDialPeer: (peer) => !admitted(peer),
      denyInboundEncryptedConnection: (peer) => !admitted(peer),
      denyOutboundEncryptedConnection: (peer) => !admitted(peer),
      // As a relay: reservations and connections for paired peers only (not a holder
      // of an open invite), and only between two of them.
      denyInboundRelayReservation: (peer) => !paired(peer),
      denyOutboundRelayedConnection: (source, destination) =>
        !paired(source) || !paired(destination),
    },
    start: false,
  })
  for (const peer of through) {
    // Kept in the peer store and tagged: libp2p keeps a connection to it, redials it
    // after a loss, and reserves again once it answers.
    await node.peerStore.merge(peerIdFromString(peer.id), {
      multiaddrs: peer.addresses.flatMap((address) => orNothing(() => multiaddr(address))),
      tags: { [KEEP_ALIVE]: { value: 1 } },
    })
  }
  const keeper = new RelayKeeper(
    node,
    through.map((peer) => peer.id),
    (peer) => relay?.paired(peer) ?? false,
    log,
  )
  return new Libp2pTransport(node, log, keeper, options.onAddresses)
}

function orNothing<T>(make: () => T): T[] {
  try {
    return [make()]
  } catch {
    return []
  }
}

class Libp2pTransport implements Transport {
  readonly localId: InstanceId

  constructor(
    private readonly node: Libp2p,
    private readonly log: Logger,
    private readonly relayKeeper: RelayKeeper,
    onAddresses: Libp2pTransportOptions['onAddresses'],
  ) {
    this.localId = node.peerId.toString() as InstanceId
    if (onAddresses === undefined) return
    node.addEventListener('peer:identify', ({ detail }) => {
      const peer = detail.peerId.toString()
      onAddresses(peer as InstanceId, {
        listen: detail.listenAddrs.map((address) => withoutPeerId(address.toString(), peer)),
      })
    })
    node.addEventListener('connection:open', ({ detail: connection }) => {
      if (connection.direction !== 'outbound') return
      const peer = connection.remotePeer.toString()
      onAddresses(peer as InstanceId, {
        dialed: withoutPeerId(connection.remoteAddr.toString(), peer),
      })
    })
  }

  async start(): Promise<void> {
    await this.node.start()
    this.relayKeeper.start()
  }

  async stop(): Promise<void> {
    this.relayKeeper.stop()
    await this.node.stop()
  }

  addresses(): string[] {
    return this.node
      .getMultiaddrs()
      .map((address) => withoutPeerId(address.toString(), this.localId))
  }

  dialable(address: string): boolean {
    return addressKind(address) !== undefined
  }

  async handle(protocol: string, handler: StreamHandler): Promise<void> {
    await this.node.handle(
      protocol,
      (stream, connection) =>
        handler(wrapStream(stream), connection.remotePeer.toString() as InstanceId),
      { maxInboundStreams: 8 },
    )
  }

  async dial(
    remote: InstanceId,
    addresses: readonly string[],
    protocol: string,
    options: DialOptions = {},
  ): Promise<ByteStream> {
    let targets: Multiaddr[]
    try {
      const peer = peerIdFromString(remote)
      targets = addresses.map((address) =>
        multiaddr(withoutPeerId(address, remote)).encapsulate(`/p2p/${peer.toString()}`),
      )
    } catch (error) {
      throw new ObjectSyncError(
        'PEER_UNREACHABLE',
        `cannot dial ${remote}: ${(error as Error).message}`,
        {
          cause: error,
        },
      )
    }
    if (targets.length === 0) {
      throw new ObjectSyncError('PEER_UNREACHABLE', `no address is known for ${remote}`)
    }
    try {
      const stream = await this.node.dialProtocol(targets, protocol, options)
      return wrapStream(stream)
    } catch (error) {
      throw this.dialError(remote, error)
    }
  }

  async hangUp(remote: InstanceId): Promise<void> {
    await this.node.hangUp(peerIdFromString(remote))
  }

  isConnected(remote: InstanceId): boolean {
    return this.node.getConnections(peerIdFromString(remote)).length > 0
  }

  connectionPath(remote: InstanceId): RelayPath | undefined {
    const connections = this.node.getConnections(peerIdFromString(remote))
    // A direct connection, where there is one, is the one streams take.
    const relayed = connections.map((connection) => circuitRelay(connection.remoteAddr.toString()))
    if (relayed.length === 0) return undefined
    if (relayed.includes(undefined)) return { path: 'direct' }
    return { path: 'relay', relay: relayed[0]! }
  }

  reservedRelays(): InstanceId[] {
    return this.relayKeeper.reserved()
  }

  private dialError(remote: InstanceId, error: unknown): ObjectSyncError {
    this.log.debug({ remote, err: error }, 'dial failed')
    return dialFailure(remote, error)
  }
}

/**
 * What a failed dial means. The refused side of a gated connection sees only an end of
 * stream in the middle of the handshake; say what it almost always means.
 */
export function dialFailure(remote: InstanceId, error: unknown): ObjectSyncError {
  // libp2p rejects with the stream's event (not an Error) when the remote closes the
  // stream while the protocol is chosen: a close is as refusing as closing the connection.
  const event = error instanceof Event ? error.type : undefined
  const name = event === 'close' ? 'StreamClosed' : String((error as Error | undefined)?.name)
  const message =
    event !== undefined
      ? `the stream ended (${event})`
      : ((error as Error | undefined)?.message ?? String(error))
  if (
    /UnexpectedEOF|EncryptionFailed|ConnectionClosed|StreamReset|StreamClosed|MuxerClosed/.test(
      name + message,
    )
  ) {
    return new ObjectSyncError(
      'PEER_REFUSED',
      `${remote} closed the connection during the handshake: it does not accept this instance (not paired, or unpaired)`,
      { cause: error },
    )
  }
  if (/DialDenied|denied/i.test(name + message)) {
    return new ObjectSyncError('PEER_REFUSED', `${remote} is not a paired peer of this instance`, {
      cause: error,
    })
  }
  return new ObjectSyncError('PEER_UNREACHABLE', `could not reach ${remote}: ${message}`, {
    cause: error,
  })
}

function wrapStream(stream: Stream): ByteStream {
  stream.maxReadBufferLength = MAX_BUFFER_BYTES
  const queue = new ByteQueue(
    () => stream.pause(),
    () => stream.resume(),
  )
  stream.addEventListener('message', (event) => queue.push(event.data.subarray()))
  // 'end', not 'remoteCloseWrite': the remote may close while we have paused reading and
  // bytes still wait in libp2p's read buffer; 'end' comes once those are delivered.
  stream.addEventListener('end', () => queue.end())
  stream.addEventListener('close', (event) => queue.end(event.error))
  return {
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
    async send(bytes) {
      stream.send(bytes)
      // send() returns false only when the muxer is full; while an earlier write is still
      // in progress it returns true and the bytes pile up in the stream's own buffer. A
      // sender awaiting only send() would then never yield to I/O (measured: 6 GB queued
      // in 3 s, 124 KB delivered). Wait until that buffer is small again.
      while (stream.writeBufferLength > HIGH_WATER_BYTES) {
        if (stream.status !== 'open') throw new Error(`the stream is ${stream.status}`)
        if (stream.writableNeedsDrain) await drained(stream)
        else await new Promise((resolve) => setImmediate(resolve))
      }
    },
    async close() {
      await stream.close()
    },
    abort(reason) {
      stream.abort(reason)
      queue.end(reason)
    },
  }
}

/**
 * The next 'drain' of `stream`. Not stream.onDrain(): in @libp2p/utils 7.4 its promise is
 * never reset once resolved, so after the first drain it resolves at once even when the
 * muxer is full, and a sender spins on microtasks without ever yielding to I/O.
 */
function drained(stream: Stream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      cleanup()
      resolve()
    }
    const onClose = () => {
      cleanup()
      reject(new Error(`the stream is ${stream.status}`))
    }
    const cleanup = () => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
    }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
  })
}
