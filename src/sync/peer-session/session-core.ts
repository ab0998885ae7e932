// What the parts of one peer session share: the peer, the store, the scope, the channel
// to send on, the session's counters, and the one wake-up signal its sending side waits on.
import type { Logger } from '../../log.ts'
import type { ChannelTraffic } from '../../net/index.ts'
import type { FacetId, InstanceId } from '../../model/index.ts'
import type { ObjectStore } from '../../store/index.ts'
import { encodeMessage, type SyncMessage } from '../messages.ts'
import type { PeerScope } from '../scope.ts'

/** What a session needs of a peer link: a sealed, ordered, flow-controlled channel. */
export interface SyncChannel extends AsyncIterable<Uint8Array> {
  readonly remote: InstanceId
  send(payload: Uint8Array): Promise<void>
  close(): Promise<void>
  abort(reason: Error): void
  /** Frames and bytes both ways, where the channel counts them. */
  readonly traffic?: Readonly<ChannelTraffic>
}

export interface SessionProgress {
  /** Facets (roughly) the peer announced for this session's catch-up. */
  total: number
  /** Facets received so far in this session. */
  done: number
  /** True once the peer has sent everything it had and pushes live changes. */
  caughtUp: boolean
}

export interface SessionStats {
  batchesSent: number
  facetsSent: number
  batchesReceived: number
  facetsApplied: number
  facetsRefused: number
}

export interface SessionCoreInit {
  channel: SyncChannel
  store: ObjectStore
  scope: PeerScope
  logger: Logger
  batchBytes: number
  onProgress: ((progress: SessionProgress) => void) | undefined
}

export class SessionCore {
  readonly peer: InstanceId
  readonly channel: SyncChannel
  readonly store: ObjectStore
  readonly scope: PeerScope
  readonly log: Logger
  /** Payload bytes per batch. */
  readonly batchBytes: number
  readonly progress: SessionProgress = { total: 0, done: 0, caughtUp: false }
  readonly stats: SessionStats = {
    batchesSent: 0,
    facetsSent: 0,
    batchesReceived: 0,
    facetsApplied: 0,
    facetsRefused: 0,
  }
  /** Our feed sequence up to which the peer has been sent everything (in this session). */
  sentUpTo = 0
  /** The peer's feed end, as its last plan said. */
  peerLastSeq = 0
  /** The peer's feed sequence up to which we hold everything (the saved cursor). */
  received = 0
  closed = false
  /** True while a batch from the peer is being applied. */
  applying = false
  /**
   * Facets the peer just gave us whole, that are now what it sent: their feed entries are
   * not sent back to it. True for a line of changes here that the peer's continued (see
   * FeedSender.isEcho), false for a facet new here.
   */
  readonly echoes = new Map<FacetId, boolean>()
  lastSentAt = 0
  private wakeSender: (() => void) | undefined
  private readonly onProgress: ((progress: SessionProgress) => void) | undefined

  constructor(init: SessionCoreInit) {
    this.peer = init.channel.remote
    this.channel = init.channel
    this.store = init.store
    this.scope = init.scope
    this.log = init.logger
    this.batchBytes = init.batchBytes
    this.onProgress = init.onProgress
  }

  send(message: SyncMessage): Promise<void> {
    this.lastSentAt = Date.now()
    return this.channel.send(encodeMessage(message))
  }

  /**
   * Waits for the next `wake()`. Only the sending side sleeps, and one wait at a time:
   * for credits, or for new feed entries, or for a batch being applied to finish.
   */
  sleep(): Promise<void> {
    return new Promise<void>((resolve) => (this.wakeSender = resolve))
  }

  wake(): void {
    const wake = this.wakeSender
    this.wakeSender = undefined
    wake?.()
  }

  /** Marks the session closed and wakes the sending side so it sees that and ends. */
  markClosed(): void {
    this.closed = true
    this.wake()
  }

  reportProgress(): void {
    this.onProgress?.({ ...this.progress })
  }
}
