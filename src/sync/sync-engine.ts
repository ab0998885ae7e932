// The sync engine: one session per connected paired peer, reconnection with backoff, and
// per-peer state (connected, last sync, changes pending each way, first-sync progress,
// file transfers) for the status page and the CLI.
import { silentLogger, type Logger } from '../log.ts'
import { TypedEvents, type EventMap } from '../typed-events.ts'
import type { InstanceId, ObjectId } from '../model/index.ts'
import type { ObjectStore } from '../store/index.ts'
import { FileTransferStats } from './blob-transfer/index.ts'
import {
  PeerSession,
  lastSynced,
  peerAcked,
  type SessionProgress,
  type SyncChannel,
} from './peer-session/index.ts'
import type { PeerScope } from './scope.ts'

/** What the engine needs of the peer link. */
export interface SyncLinks {
  connect(peer: InstanceId): Promise<SyncChannel>
}

/** A session that lasted this long resets the backoff, whether or not it caught up. */
const LASTING_SESSION_MS = 60_000
/** When a peer last synced is written to the store at most this often. */
const SAVE_SYNCED_MS = 10_000

export interface PeerSyncState {
  peer: InstanceId
  connected: boolean
  /** When a batch was last applied from this peer, or the session caught up (ISO). */
  lastSyncAt: string | undefined
  /** Our feed entries the peer has not been sent yet (an upper bound). */
  pendingOut: number
  /** The peer's feed entries we have not received yet, as of its last plan. */
  pendingIn: number
  progress: SessionProgress | undefined
  /** Why the last session with the peer broke off, until one catches up again. */
  lastError: string | undefined
  /** Facets from the peer refused since this instance started (invalid or out of scope). */
  refused: number
}

export interface SyncEngineEvents extends EventMap {
  peer: [PeerSyncState]
  progress: [InstanceId, SessionProgress]
  /** Objects the peer no longer shares with us (they left its scope; not deleted). */
  left: [InstanceId, ObjectId[]]
}

export interface SyncEngineOptions {
  store: ObjectStore
  links: SyncLinks
  /**
   * This instance's id. With it, when both sides dial at once, both keep the session
   * dialled by the smaller id; without it the newer session replaces the older one.
   */
  localId?: InstanceId
  logger?: Logger
  /** First and longest wait between reconnection attempts. */
  backoff?: { initialMs: number; maxMs: number }
  batchBytes?: number
  /** How often a quiet session says it is alive; three silent beats close it. */
  heartbeatMs?: number
  /** What each peer may see and send (from its `share` in peers.json); everything when absent. */
  scopeOf?: (peer: InstanceId) => PeerScope
  /** How long file content a peer could not give waits before it is asked for again (30 s). */
  blobRetryMs?: number
}

interface PeerEntry {
  session: PeerSession | undefined
  /** Who dialled the current session. */
  dialer: InstanceId | undefined
  lastSyncAt: number | undefined
  /** When lastSyncAt was last written to the store (at most every SAVE_SYNCED_MS). */
  savedSyncAt: number
  /** Our feed sequence up to which the peer applied all we sent (kept in the store). */
  acked: number | undefined
  wanted: boolean
  timer: NodeJS.Timeout | undefined
  attempt: number
  lastError: string | undefined
  /** Facets refused in the sessions that ended. */
  refused: number
}

// 2^16 × any initial wait is past any longest one (backoff.maxMs).
const LONGEST_BACKOFF_ATTEMPT = 16

export class SyncEngine extends TypedEvents<SyncEngineEvents> {
  private readonly peers = new Map<InstanceId, PeerEntry>()
  /** Peers paused: not dialled, and the sessions they open are closed at once. */
  private readonly paused = new Set<InstanceId>()
  /** File contents being fetched by some session: one peer at a time per content. */
  private readonly blobsInFlight = new Set<string>()
  /** File transfers per peer since the engine started, across sessions. */
  readonly fileTransfers = new FileTransferStats()
  private readonly log: Logger
  private stopped = false

  constructor(private readonly options: SyncEngineOptions) {
    super((options.logger ?? silentLogger).child('sync'))
    this.log = (options.logger ?? silentLogger).child('sync')
  }

  /** Keeps a session with `peer`, dialing now and again after every loss (resumes a paused one). */
  connect(peer: InstanceId): void {
    this.paused.delete(peer)
    const known = this.peers.has(peer)
    const entry = this.entry(peer)
    entry.wanted = true
    // A peer new to the engine (just paired) is news before its first session opens.
    if (!known) this.emit('peer', this.state(peer))
    if (entry.session === undefined && entry.timer === undefined) this.dial(peer)
  }

  /**
   * Stops syncing with `peer` until connect() is called again: its session ends, it is not
   * dialled, and a session it opens is closed. What is known of it (last sync, what it
   * acknowledged) stays.
   */
  pause(peer: InstanceId): void {
    this.paused.add(peer)
    const entry = this.peers.get(peer)
    if (entry !== undefined) {
      entry.wanted = false
      clearTimeout(entry.timer)
      entry.timer = undefined
      const session = entry.session
      if (session !== undefined) {
        this.detach(peer, entry, session)
        session.close()
      }
    }
    this.emit('peer', this.state(peer))
  }

  /**
   * Ends the session with `peer`, if one is open, and dials it again shortly (as after any
   * loss, but without waiting out a backoff): the new session takes the scope scopeOf
   * gives now, and sends what a changed scope newly takes.
   */
  restart(peer: InstanceId): void {
    const entry = this.peers.get(peer)
    const session = entry?.session
    if (this.stopped || entry === undefined || session === undefined) return
    this.detach(peer, entry, session)
    session.close()
    entry.attempt = 0
    this.emit('peer', this.state(peer))
    this.retryLater(peer)
  }

  /** Stops syncing with `peer` (after unpairing). */
  disconnect(peer: InstanceId): void {
    this.paused.delete(peer)
    const entry = this.peers.get(peer)
    if (entry === undefined) return
    entry.wanted = false
    clearTimeout(entry.timer)
    entry.session?.close()
    this.peers.delete(peer)
    this.fileTransfers.forget(peer)
  }

  /** Takes a channel the peer opened to us. */
  accept(channel: SyncChannel): void {
    // A paused peer's channel is refused by the link; one that opened as it was paused ends here.
    if (this.stopped || this.paused.has(channel.remote)) {
      void channel.close()
      return
    }
    this.startSession(channel, channel.remote)
  }

  state(peer: InstanceId): PeerSyncState {
    const entry = this.peers.get(peer)
    const session = entry?.session
    const lastSeq = this.options.store.lastSeq
    return {
      peer,
      connected: session !== undefined,
      lastSyncAt:
        entry?.lastSyncAt === undefined ? undefined : new Date(entry.lastSyncAt).toISOString(),
      // Offline: what it has not acknowledged, as it said in its last session (an upper
      // bound: the feed also holds its own changes, which it is not sent back).
      pendingOut: Math.max(0, lastSeq - (session?.sentUpTo ?? entry?.acked ?? 0)),
      pendingIn:
        session === undefined ? 0 : Math.max(0, session.peerLastSeq - session.receivedUpTo),
      progress: session === undefined ? undefined : { ...session.progress },
      lastError: entry?.lastError,
      refused: (entry?.refused ?? 0) + (session?.stats.facetsRefused ?? 0),
    }
  }

  states(): PeerSyncState[] {
    return [...this.peers.keys()].map((peer) => this.state(peer))
  }

  /** The session with `peer`, if connected (for tests and diagnostics). */
  session(peer: InstanceId): PeerSession | undefined {
    return this.peers.get(peer)?.session
  }

  /**
   * A channel with the peer could not be opened for what it sent or holds (no sync protocol
   * version or pair key in common): shown as its last error until a session catches up
   * again (the channel logged it).
   */
  noteRefusal(peer: InstanceId, reason: string): void {
    const entry = this.peers.get(peer)
    if (this.stopped || entry === undefined) return
    // It lasts until one side changes: redial at the longest wait, not in quick steps.
    entry.attempt = Math.max(entry.attempt, LONGEST_BACKOFF_ATTEMPT)
    if (entry.lastError === reason) return
    entry.lastError = reason
    this.emit('peer', this.state(peer))
  }

  stop(): void {
    this.stopped = true
    for (const [, entry] of this.peers) {
      clearTimeout(entry.timer)
      entry.session?.close()
    }
    this.peers.clear()
  }

  private entry(peer: InstanceId): PeerEntry {
    let entry = this.peers.get(peer)
    if (entry === undefined) {
      entry = {
        session: undefined,
        dialer: undefined,
        lastSyncAt: undefined,
        savedSyncAt: 0,
        acked: undefined,
        wanted: false,
        timer: undefined,
        attempt: 0,
        lastError: undefined,
        refused: 0,
      }
      this.peers.set(peer, entry)
      void this.remember(peer, entry)
    }
    return entry
  }

  /** What the store kept of a peer from earlier runs: its acknowledgement, its last sync. */
  private async remember(peer: InstanceId, entry: PeerEntry): Promise<void> {
    const { store } = this.options
    try {
      const [acked, synced] = await Promise.all([
        peerAcked.read(store, peer, { unreadable: 'absent' }),
        lastSynced.read(store, peer, { unreadable: 'absent' }),
      ])
      if (acked !== undefined) entry.acked = Math.max(entry.acked ?? 0, acked)
      entry.lastSyncAt ??= synced
      const known = acked !== undefined || synced !== undefined
      if (known && !this.stopped && this.peers.get(peer) === entry) {
        this.emit('peer', this.state(peer))
      }
    } catch (error) {
      this.log.debug({ peer, err: error }, 'could not read what was kept of the peer')
    }
  }

  /** The peer synced now: kept in the store too, at most every SAVE_SYNCED_MS. */
  private synced(peer: InstanceId, entry: PeerEntry): void {
    entry.lastSyncAt = Date.now()
    if (entry.lastSyncAt - entry.savedSyncAt >= SAVE_SYNCED_MS) this.saveSynced(peer, entry)
  }

  /** Writes when the peer last synced, if not written yet (at a session's end too). */
  private saveSynced(peer: InstanceId, entry: PeerEntry): void {
    const at = entry.lastSyncAt
    if (at === undefined || at <= entry.savedSyncAt) return
    entry.savedSyncAt = at
    lastSynced.write(this.options.store, peer, at).catch((error: unknown) => {
      this.log.debug({ peer, err: error }, 'could not keep when the peer last synced')
    })
  }

  /** Takes an ending session off its peer, keeping what the peer acknowledged in it. */
  private detach(peer: InstanceId, entry: PeerEntry, session: PeerSession): void {
    entry.session = undefined
    entry.acked = Math.max(entry.acked ?? 0, session.ackedUpTo)
    this.saveSynced(peer, entry)
  }

  private dial(peer: InstanceId): void {
    const entry = this.entry(peer)
    entry.timer = undefined
    this.options.links.connect(peer).then(
      // A connection alone does not reset the backoff: a peer whose sessions break at once
      // (one that sends what we refuse) would be redialled every 250–500 ms. A session
      // that catches up, or lasts, does (see startSession).
      (channel) => {
        if (this.stopped || !entry.wanted) void channel.close()
        else this.startSession(channel, this.options.localId)
      },
      (error: unknown) => {
        this.log.debug({ peer, err: error }, 'dial failed')
        this.retryLater(peer)
      },
    )
  }

  private retryLater(peer: InstanceId): void {
    const entry = this.peers.get(peer)
    if (this.stopped || entry === undefined || !entry.wanted || entry.session !== undefined) return
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 500, maxMs: 30_000 }
    // Exponential backoff with jitter, so that instances that lost each other at the
    // same moment do not redial in lockstep.
    const delay = Math.min(maxMs, initialMs * 2 ** entry.attempt) * (0.5 + Math.random() / 2)
    entry.attempt++
    entry.timer = setTimeout(() => this.dial(peer), delay)
    entry.timer.unref()
  }

  private startSession(channel: SyncChannel, dialer: InstanceId | undefined): void {
    const peer = channel.remote
    const entry = this.entry(peer)
    // Both sides may dial at once. Each side then holds two channels; both must keep the
    // same one, or each closes the one the other kept: keep the smaller id's dial.
    const local = this.options.localId
    if (
      entry.session !== undefined &&
      local !== undefined &&
      dialer !== undefined &&
      entry.dialer !== undefined
    ) {
      const preferred = local < peer ? local : peer
      if (entry.dialer === preferred && dialer !== preferred) {
        void channel.close()
        return
      }
    }
    entry.session?.close()
    entry.dialer = dialer
    clearTimeout(entry.timer)
    entry.timer = undefined
    let caughtUp = false
    const session = new PeerSession({
      channel,
      store: this.options.store,
      logger: this.log,
      ...(this.options.scopeOf === undefined ? {} : { scope: this.options.scopeOf(peer) }),
      ...(this.options.batchBytes === undefined ? {} : { batchBytes: this.options.batchBytes }),
      ...(this.options.heartbeatMs === undefined ? {} : { heartbeatMs: this.options.heartbeatMs }),
      onProgress: (progress) => {
        if (progress.caughtUp) {
          this.synced(peer, entry)
          entry.lastError = undefined
          caughtUp = true
        }
        this.emit('progress', peer, progress)
      },
      onLeft: (objects) => this.emit('left', peer, objects),
      blobsInFlight: this.blobsInFlight,
      fileTransfers: this.fileTransfers,
      ...(this.options.blobRetryMs === undefined ? {} : { blobRetryMs: this.options.blobRetryMs }),
      onApplied: () => this.synced(peer, entry),
    })
    entry.session = session
    const began = Date.now()
    this.log.info({ peer }, 'peer connected')
    this.emit('peer', this.state(peer))
    void session.run().finally(() => {
      entry.refused += session.stats.facetsRefused
      this.log.info(
        { peer, seconds: Math.round((Date.now() - began) / 1000), reason: session.endReason },
        'peer disconnected',
      )
      // After stop() the store may be closed already: nothing to report or redial. A
      // session paused or restarted was taken off its peer already.
      if (this.stopped || entry.session !== session) return
      this.detach(peer, entry, session)
      if (session.endReason !== undefined) entry.lastError = session.endReason
      // A session that caught up or lasted resets the backoff, unless it ended for what the
      // peer sent (a peer can say it is caught up, then send what we refuse).
      if ((caughtUp || Date.now() - began >= LASTING_SESSION_MS) && !session.misbehaved) {
        entry.attempt = 0
      }
      this.emit('peer', this.state(peer))
      this.retryLater(peer)
    })
  }
}
