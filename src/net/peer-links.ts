// The peer link as the rest of objectsync sees it: who may connect (paired peers, and a
// holder of an open invite on the pairing protocol alone), pairing by invite, sealed
// channels to paired peers, unpairing and key rotation.
import { decodeInvite, encodeInvite, newInvite, type Invite } from '../crypto/index.ts'
import { ObjectSyncError, isObjectSyncError } from '../errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import type { InstanceId } from '../model/index.ts'
import { isInstanceId } from './relay-addresses.ts'
import type { ByteStream } from './byte-stream.ts'
import { withDeadline } from './deadline.ts'
import {
  PAIR_PROTOCOL,
  acceptPairing,
  joinPairing,
  sameName,
  type PairedPeer,
} from './pairing-protocol.ts'
import type { PeerRecord, PeerRegistry } from './peer-registry.ts'
import {
  SYNC_PROTOCOL,
  SealedChannel,
  type ChannelTraffic,
  type ProtocolVersions,
  type RefusalReason,
} from './sealed-channel.ts'
import type { Transport } from './transport.ts'

export const DEFAULT_INVITE_TTL_MS = 60 * 60 * 1000
/** The most addresses of an invite dialled. */
const MAX_INVITE_ADDRESSES = 8
/**
 * Key rotations taken from one peer within an hour. Each rewrites its key file; an honest
 * peer rotates when an administrator asks, far less often. One more closes the channel.
 */
export const ROTATIONS_PER_HOUR = 12
const HOUR_MS = 60 * 60 * 1000

export interface PeerLinksOptions {
  registry: PeerRegistry
  /** This instance's display name, told to peers when pairing. */
  name: string
  logger?: Logger
  clock?: () => number
  /** Every channel to a paired peer once its hello exchange is done, inbound or outbound. */
  onChannel?: (channel: SealedChannel) => void
  /** A peer that paired with us by redeeming one of our invites. */
  onPaired?: (peer: PeerRecord) => void
  /** Every frame refused, with its reason (for metrics). */
  onRefused?: (peer: InstanceId, reason: RefusalReason) => void
  /**
   * A sync channel with a paired peer that could not be opened, on either side, for what
   * the peer sent or holds (no common protocol version or key): worth showing on status.
   */
  onOpenRefused?: (peer: InstanceId, error: ObjectSyncError) => void
  /** The sync protocol versions to offer (tests); SYNC_PROTOCOL_VERSIONS by default. */
  versions?: ProtocolVersions
  /**
   * How long a sync channel waits for the peer's hello before giving up (and the engine
   * redials); HELLO_TIMEOUT_MS by default. Tests that shorten the heartbeat shorten it too.
   */
  helloTimeoutMs?: number
}

export class PeerLinks {
  private transport: Transport | undefined
  private readonly log: Logger
  private readonly clock: () => number
  private readonly invites = new Map<string, Invite>()
  private readonly pairingWith = new Set<InstanceId>()
  private readonly channels = new Map<InstanceId, Set<SealedChannel>>()
  /** When each peer's recent key rotations were taken (the last hour's). */
  private readonly rotations = new Map<InstanceId, number[]>()
  /** Frames and bytes of channels already closed, per peer (open ones are added on read). */
  private readonly closedTraffic = new Map<InstanceId, ChannelTraffic>()
  private readonly retired = new WeakSet<SealedChannel>()
  /** Paused peers whose sync streams were refused since they were paused (logged once each). */
  private readonly refusedWhilePaused = new Set<InstanceId>()

  constructor(private readonly options: PeerLinksOptions) {
    this.log = (options.logger ?? silentLogger).child('link')
    this.clock = options.clock ?? Date.now
  }

  /** The connection gate to build the transport with. */
  readonly admits = (remote: InstanceId): boolean =>
    this.options.registry.has(remote) || this.pairingWith.has(remote) || this.hasOpenInvite()

  async start(transport: Transport): Promise<void> {
    this.transport = transport
    await transport.handle(SYNC_PROTOCOL, (stream, remote) => void this.acceptSync(stream, remote))
    await transport.handle(PAIR_PROTOCOL, (stream, remote) => void this.acceptPair(stream, remote))
  }

  stop(): void {
    for (const set of this.channels.values()) {
      for (const channel of set) channel.abort(new Error('the peer link is stopping'))
    }
    this.channels.clear()
  }

  // ── pairing ──────────────────────────────────────────────────────────────────────

  /** A one-time pairing token, valid for `ttlMs`. Treat it as a secret. */
  createInvite(ttlMs = DEFAULT_INVITE_TTL_MS): string {
    const transport = this.requireTransport()
    if (!Number.isFinite(ttlMs) || ttlMs <= 0)
      throw new TypeError(`invite lifetime must be positive, got ${ttlMs}`)
    const invite = newInvite(
      { inviter: transport.localId, addresses: transport.addresses(), name: this.options.name },
      ttlMs,
      this.clock(),
    )
    this.invites.set(Buffer.from(invite.id).toString('hex'), invite)
    return encodeInvite(invite)
  }

  /** Pairs with the instance that made `token`; both end up with a shared pair key. */
  async pair(token: string): Promise<PeerRecord> {
    const transport = this.requireTransport()
    const invite = decodeInvite(token)
    if (invite.expiresAt <= this.clock()) {
      throw new ObjectSyncError(
        'INVITE_REFUSED',
        `the invite expired at ${new Date(invite.expiresAt).toISOString()}`,
      )
    }
    const inviter = invite.inviter as InstanceId
    if (!isInstanceId(inviter)) {
      throw new ObjectSyncError('INVALID_INVITE', 'the token names no instance id an instance has')
    }
    // Only what a peer may suggest is dialled: IP or DNS hosts over TCP, or relays.
    const addresses = invite.addresses
      .filter((address) => transport.dialable(address))
      .slice(0, MAX_INVITE_ADDRESSES)
    if (addresses.length === 0) {
      throw new ObjectSyncError(
        'INVALID_INVITE',
        'the token holds no address an instance can be dialled at (IP or DNS over TCP)',
      )
    }
    this.pairingWith.add(inviter)
    try {
      const stream = await transport
        .dial(inviter, addresses, PAIR_PROTOCOL)
        .catch((error: unknown) => {
          // The inviter admits strangers only while it has an open invite.
          if (isObjectSyncError(error, 'PEER_REFUSED')) {
            throw new ObjectSyncError(
              'INVITE_REFUSED',
              `${invite.name} (${inviter}) refused the connection: it has no open invite (already used, expired, or the daemon restarted)`,
              { cause: error },
            )
          }
          throw error
        })
      const peer = await joinPairing(stream, invite, this.self()).catch((error: unknown) => {
        stream.abort(error as Error)
        if (isObjectSyncError(error)) throw error
        throw new ObjectSyncError(
          'INVITE_REFUSED',
          `pairing with ${invite.name} failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        )
      })
      const record = await this.remember(peer)
      this.log.info({ peer: peer.id, name: peer.name }, 'paired')
      return record
    } finally {
      this.pairingWith.delete(inviter)
    }
  }

  private async acceptPair(stream: ByteStream, remote: InstanceId): Promise<void> {
    try {
      const peer = await acceptPairing(stream, remote, this.self(), (id) => this.takeInvite(id))
      const record = await this.remember(peer)
      this.log.info({ peer: peer.id, name: peer.name }, 'paired')
      this.options.onPaired?.(record)
    } catch (error) {
      this.log.warn({ peer: remote, err: error }, 'pairing refused')
      // Close rather than abort, so that the refusal we sent arrives before the end.
      await withDeadline(stream.close(), 1000).catch(() => stream.abort(error as Error))
      // A stranger let in for pairing leaves once pairing is over.
      if (!this.options.registry.has(remote)) await this.transport?.hangUp(remote).catch(() => {})
    }
  }

  private takeInvite(id: Uint8Array): Invite | string {
    const key = Buffer.from(id).toString('hex')
    const invite = this.invites.get(key)
    if (invite === undefined) return 'no such invite (never made, or already used)'
    this.invites.delete(key)
    if (invite.expiresAt <= this.clock()) return 'the invite has expired'
    return invite
  }

  private hasOpenInvite(): boolean {
    const now = this.clock()
    for (const [key, invite] of this.invites) {
      if (invite.expiresAt > now) return true
      this.invites.delete(key)
    }
    return false
  }

  private remember(peer: PairedPeer): Promise<PeerRecord> {
    const { registry } = this.options
    // A name another peer has already would pass for it on the page and in the logs: the
    // newcomer's gets the end of its id.
    const taken = registry
      .list()
      .some((other) => other.id !== peer.id && sameName(other.name, peer.name))
    const name = taken ? `${peer.name} (${peer.id.slice(-6)})` : peer.name
    return registry.add({ id: peer.id, name, addresses: peer.addresses }, { current: peer.key })
  }

  private self(): { id: InstanceId; name: string; addresses: string[] } {
    const transport = this.requireTransport()
    return { id: transport.localId, name: this.options.name, addresses: transport.addresses() }
  }

  // ── channels ─────────────────────────────────────────────────────────────────────

  /** Opens a sealed channel to a paired peer. */
  async connect(peer: InstanceId): Promise<SealedChannel> {
    const transport = this.requireTransport()
    const { registry } = this.options
    const record = registry.get(peer)
    if (record === undefined)
      throw new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${peer}`)
    // Dialled: not paused (any more), so a later pause is said again.
    this.refusedWhilePaused.delete(peer)
    const keys = await registry.keys(peer)
    const stream = await transport.dial(peer, registry.dialAddresses(peer), SYNC_PROTOCOL)
    const channel = await this.openChannel(stream, peer, 'dialer', keys).catch((error: unknown) => {
      if (isObjectSyncError(error)) throw error
      // The peer reset the stream before its hello: it does not take us as paired.
      throw new ObjectSyncError(
        'PEER_REFUSED',
        `${record.name} (${peer}) closed the sync stream: ${(error as Error).message}`,
        {
          cause: error,
        },
      )
    })
    return this.track(channel)
  }

  private async acceptSync(stream: ByteStream, remote: InstanceId): Promise<void> {
    if (!this.options.registry.has(remote)) {
      // Let in only to pair: no sync stream for it.
      this.log.warn({ peer: remote }, 'sync stream from an unpaired instance refused')
      stream.abort(new ObjectSyncError('PEER_REFUSED', 'not paired'))
      return
    }
    if (this.options.registry.get(remote)?.paused === true) {
      // It redials with backoff for as long as it is paused here: said once, not each time.
      if (!this.refusedWhilePaused.has(remote)) {
        this.refusedWhilePaused.add(remote)
        this.log.info(
          { peer: remote },
          'sync stream from a paused peer refused until it is resumed',
        )
      }
      stream.abort(new ObjectSyncError('PEER_REFUSED', 'paused'))
      return
    }
    this.refusedWhilePaused.delete(remote)
    try {
      const keys = await this.options.registry.keys(remote)
      const channel = this.track(await this.openChannel(stream, remote, 'listener', keys))
      this.options.onChannel?.(channel)
    } catch (error) {
      this.log.warn({ peer: remote, err: error }, 'sync stream could not be opened')
      stream.abort(error as Error)
    }
  }

  private openChannel(
    stream: ByteStream,
    remote: InstanceId,
    role: 'dialer' | 'listener',
    keys: Awaited<ReturnType<PeerRegistry['keys']>>,
  ): Promise<SealedChannel> {
    return SealedChannel.open({
      stream,
      role,
      local: this.requireTransport().localId,
      remote,
      keys,
      saveKeys: (next) => this.options.registry.saveKeys(remote, next),
      logger: this.log,
      onRefused: (reason) => this.options.onRefused?.(remote, reason),
      admitRotation: () => this.admitRotation(remote),
      ...(this.options.versions === undefined ? {} : { versions: this.options.versions }),
      ...(this.options.helloTimeoutMs === undefined
        ? {}
        : { helloTimeoutMs: this.options.helloTimeoutMs }),
    }).catch((error: unknown) => {
      // Only what lasts: a hello that timed out or broke off is a network hiccup.
      if (
        isObjectSyncError(error, 'PEER_INCOMPATIBLE') ||
        (isObjectSyncError(error, 'FRAME_REFUSED') && error.details?.reason === 'no-common-key')
      ) {
        this.options.onOpenRefused?.(remote, error)
      }
      throw error
    })
  }

  /** Whether `peer` may rotate the pair key now: at most ROTATIONS_PER_HOUR an hour. */
  private admitRotation(peer: InstanceId): boolean {
    const now = this.clock()
    const recent = (this.rotations.get(peer) ?? []).filter((at) => now - at < HOUR_MS)
    if (recent.length >= ROTATIONS_PER_HOUR) {
      this.rotations.set(peer, recent)
      return false
    }
    recent.push(now)
    this.rotations.set(peer, recent)
    return true
  }

  private track(channel: SealedChannel): SealedChannel {
    const set = this.channels.get(channel.remote) ?? new Set()
    set.add(channel)
    this.channels.set(channel.remote, set)
    void channel.closed.finally(() => this.retire(channel))
    return channel
  }

  /** Moves a channel's traffic into the totals of closed ones, once. */
  private retire(channel: SealedChannel): void {
    if (this.retired.has(channel)) return
    this.retired.add(channel)
    this.channels.get(channel.remote)?.delete(channel)
    const total = this.closedTraffic.get(channel.remote) ?? emptyTraffic()
    addTraffic(total, channel.traffic)
    this.closedTraffic.set(channel.remote, total)
  }

  /** Frames and bytes sent to and received from each peer since start, all channels together. */
  traffic(): Map<InstanceId, ChannelTraffic> {
    const totals = new Map<InstanceId, ChannelTraffic>()
    for (const [peer, closed] of this.closedTraffic) totals.set(peer, { ...closed })
    for (const [peer, set] of this.channels) {
      const total = totals.get(peer) ?? emptyTraffic()
      for (const channel of set) addTraffic(total, channel.traffic)
      totals.set(peer, total)
    }
    return totals
  }

  /** Forgets a peer and its key, and cuts its connections. */
  async unpair(peer: InstanceId): Promise<boolean> {
    const removed = await this.options.registry.remove(peer)
    for (const channel of this.channels.get(peer) ?? []) {
      channel.abort(new Error('unpaired'))
      // Counted now: a scrape in between must not see the traffic totals go down.
      this.retire(channel)
    }
    this.channels.delete(peer)
    await this.transport?.hangUp(peer).catch(() => {})
    if (removed) this.log.info({ peer }, 'unpaired')
    return removed
  }

  /** Replaces the pair key with `peer`, over an open channel (opening one if needed). */
  async rotateKey(peer: InstanceId): Promise<void> {
    const open = [...(this.channels.get(peer) ?? [])][0]
    const channel = open ?? (await this.connect(peer))
    await channel.rotateKey()
    if (open === undefined) await channel.close()
    this.log.info({ peer }, 'pair key rotated')
  }

  private requireTransport(): Transport {
    if (this.transport === undefined) throw new TypeError('PeerLinks.start() has not been called')
    return this.transport
  }
}

function emptyTraffic(): ChannelTraffic {
  return { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0 }
}

function addTraffic(total: ChannelTraffic, more: Readonly<ChannelTraffic>): void {
  total.framesSent += more.framesSent
  total.bytesSent += more.bytesSent
  total.framesReceived += more.framesReceived
  total.bytesReceived += more.bytesReceived
}
