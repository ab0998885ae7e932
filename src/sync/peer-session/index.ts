// One sync session with one peer over one channel. Both sides play both roles: each asks
// for the other's feed after the cursor it saved, and sends its own — whole facets,
// many per frame, under credit-based flow control — then pushes new changes live.
//
// This front owns the channel: it reads and routes the peer's messages, keeps the
// heartbeat, and ends the session. Behind it, sharing one SessionCore:
//   feed-sender     what the peer lacks of our feed, then live changes
//   first-sync      the store scan of a first sync, and its resume positions
//   outbox          credit-based flow control, and the acknowledgements credits carry
//   batch-receiver  the peer's plan and batches: applied, cursor saved, credit sent back
//   shared-objects  objects of filtered types the peer holds from us, and `left` news
//   session-keys    every sync-state key of the sync layer
// and ../session-scope.ts, the one verdict on whether an object is in the peer's scope
// (the file transfers apply it too).
import type { Logger } from '../../log.ts'
import type { ChannelTraffic } from '../../net/index.ts'
import type { InstanceId, ObjectId } from '../../model/index.ts'
import type { ObjectStore } from '../../store/index.ts'
import {
  BlobTransfer,
  type BlobTransferStats,
  type FileTransferStats,
} from '../blob-transfer/index.ts'
import { decodeMessage, isBlobMessage } from '../messages.ts'
import { SHARE_EVERYTHING, type PeerScope } from '../scope.ts'
import { BatchReceiver, PeerMisbehaving } from './batch-receiver.ts'
import { FeedSender } from './feed-sender.ts'
import { FirstSyncScan } from './first-sync.ts'
import { Outbox } from './outbox.ts'
import {
  SessionCore,
  type SessionProgress,
  type SessionStats,
  type SyncChannel,
} from './session-core.ts'
import { SessionScope } from '../session-scope.ts'
import { SharedObjects } from './shared-objects.ts'

export type { SessionProgress, SessionStats, SyncChannel } from './session-core.ts'
export { cursorKey, lastSynced, peerAcked } from './session-keys.ts'

export interface SessionOptions {
  channel: SyncChannel
  store: ObjectStore
  /** What this peer may see and send; everything when absent. */
  scope?: PeerScope
  logger: Logger
  /** Payload bytes per batch: many facets per frame, well under the 4 MiB frame limit. */
  batchBytes?: number
  /** Batches the receiver lets the sender have in flight. */
  credits?: number
  onProgress?: (progress: SessionProgress) => void
  /** Called when the peer says objects left the scope it shares with us. */
  onLeft?: (objects: ObjectId[]) => void
  /** Called after each batch is applied here, with the facets that changed. */
  onApplied?: (changed: number) => void
  /** File contents being fetched by any session of this instance (shared between them). */
  blobsInFlight?: Set<string>
  /** File transfers per peer, kept by the engine across sessions. */
  fileTransfers?: FileTransferStats
  /** Chunk requests in flight per file fetch. */
  blobWindow?: number
  /** How long file content the peer could not give waits before it is asked for again. */
  blobRetryMs?: number
  /**
   * A quiet session sends a tick this often, and one that hears nothing for three of
   * these is closed (and redialled). A frame lost on the way is noticed by the next
   * frame's counter; the tick makes sure there is a next frame.
   */
  heartbeatMs?: number
}

const DEFAULT_BATCH_BYTES = 1 << 20
// Four 1 MiB batches in flight keep the pipe full on loopback while bounding what the
// receiver must hold; a batch applies in well under the round trip it takes to refill.
const DEFAULT_CREDITS = 4
const DEFAULT_HEARTBEAT_MS = 15_000
const SILENT_HEARTBEATS = 3

export class PeerSession {
  readonly peer: InstanceId
  private readonly core: SessionCore
  private readonly blobs: BlobTransfer
  private readonly outbox: Outbox
  private readonly sender: FeedSender
  private readonly receiver: BatchReceiver
  private lastReceivedAt = 0
  private ended: string | undefined
  private endedForPeer = false

  constructor(private readonly options: SessionOptions) {
    const core = new SessionCore({
      channel: options.channel,
      store: options.store,
      scope: options.scope ?? SHARE_EVERYTHING,
      logger: options.logger,
      batchBytes: options.batchBytes ?? DEFAULT_BATCH_BYTES,
      onProgress: options.onProgress,
    })
    this.core = core
    this.peer = core.peer
    const scope = new SessionScope({ scope: core.scope, store: core.store })
    this.blobs = new BlobTransfer({
      peer: core.peer,
      store: core.store,
      scope,
      send: (message) => core.send(message),
      logger: core.log,
      inFlight: options.blobsInFlight ?? new Set(),
      ...(options.fileTransfers === undefined ? {} : { transfers: options.fileTransfers }),
      ...(options.blobWindow === undefined ? {} : { window: options.blobWindow }),
      ...(options.blobRetryMs === undefined ? {} : { retryMs: options.blobRetryMs }),
    })
    this.outbox = new Outbox(core)
    const shared = new SharedObjects(core, scope)
    const firstSync = new FirstSyncScan({ core, scope, shared, outbox: this.outbox })
    this.sender = new FeedSender({ core, scope, shared, outbox: this.outbox, firstSync })
    this.receiver = new BatchReceiver({
      core,
      scope,
      blobs: this.blobs,
      onApplied: options.onApplied,
    })
  }

  get progress(): SessionProgress {
    return this.core.progress
  }

  /** Why the session ended, when it broke off (undefined while it runs, or after a close). */
  get endReason(): string | undefined {
    return this.ended
  }

  /** Whether it ended for what the peer sent (see BatchReceiver): no backoff reset. */
  get misbehaved(): boolean {
    return this.endedForPeer
  }

  get stats(): Readonly<SessionStats> {
    return this.core.stats
  }

  /** Our feed sequence up to which the peer applied all we sent (it said so, this session). */
  get ackedUpTo(): number {
    return this.outbox.ackedUpTo
  }

  /** Our feed sequence up to which the peer has been sent everything (in this session). */
  get sentUpTo(): number {
    return this.core.sentUpTo
  }

  /** The peer's feed end, as its last plan said. */
  get peerLastSeq(): number {
    return this.core.peerLastSeq
  }

  /** File content chunks sent and received in this session. */
  get blobStats(): Readonly<BlobTransferStats> {
    return this.blobs.stats
  }

  /** Sealed frames and bytes both ways on this session's channel. */
  get traffic(): Readonly<ChannelTraffic> | undefined {
    return this.options.channel.traffic
  }

  /** The peer's feed sequence up to which we hold everything (the saved cursor). */
  get receivedUpTo(): number {
    return this.core.received
  }

  /** Runs until the channel ends; never throws (a broken session is logged and closed). */
  async run(): Promise<void> {
    const { core } = this
    const heartbeat = this.startHeartbeat()
    try {
      await core.send(await this.receiver.want())
      await core.send({ t: 'credit', n: this.options.credits ?? DEFAULT_CREDITS })
      this.blobs.start()
      await this.receiveAll()
    } catch (error) {
      this.fail(error)
    } finally {
      clearInterval(heartbeat)
      this.receiver.logUnlogged()
      this.blobs.close()
      core.markClosed()
      // The peer ended its side (or we broke off): end ours, or its session would wait
      // on us forever. Regression: a dropped session left the other side hanging, and
      // neither redialled.
      await core.channel.close().catch(() => {})
    }
  }

  close(): void {
    this.blobs.close()
    this.core.markClosed()
    void this.core.channel.close()
  }

  /**
   * Reads and routes the peer's messages until the channel ends or breaks the protocol.
   * Batches are applied in order, one at a time; but the next batch is read on (its
   * facets decoded, on a worker thread when large: ObjectStore.prereadDocuments) while
   * the one before is applied. Every other message waits until the batches before it
   * are applied, as it did when each batch was applied before the next was read.
   */
  private async receiveAll(): Promise<void> {
    const { core } = this
    const { channel } = core
    let sending: Promise<void> | undefined
    // The batch being applied; its failure is raised where the next message awaits it.
    let applying: Promise<void> = Promise.resolve()
    try {
      for await (const payload of channel) {
        this.lastReceivedAt = Date.now()
        const message = decodeMessage(payload)
        if (typeof message === 'string') {
          await applying
          core.log.warn(
            { peer: this.peer, reason: message },
            'sync message refused; closing the session',
          )
          this.ended = `sync protocol violation: ${message}`
          this.endedForPeer = true
          channel.abort(new Error(this.ended))
          return
        }
        if (message.t === 'tick') continue
        if (message.t === 'credit') {
          // Credits are for what we send: they wait for nothing we apply.
          await this.outbox.credit(message.n)
          continue
        }
        if (message.t === 'batch') {
          const preread = core.store.prereadDocuments(message.items)
          // Read whether or not it is applied (the session may end first).
          preread.catch(() => undefined)
          await applying
          applying = this.receiver.receive(message.items, message.upTo, message.resume, preread)
          // A batch that fails ends the session at once, as when each was awaited here (a
          // session left open would send no credit back and hold our live changes).
          applying.catch((error: unknown) => this.fail(error))
          continue
        }
        await applying
        if (message.t === 'want') {
          sending ??= this.sender
            .run(message.after, message.resume)
            .catch((error: unknown) => this.fail(error))
        } else if (message.t === 'plan') {
          if (!(await this.receiver.plan(message.total, message.lastSeq))) {
            channel.abort(new Error('sync cursor beyond the peer feed'))
            return
          }
        } else if (message.t === 'live') {
          this.receiver.live()
        } else if (isBlobMessage(message)) {
          await this.blobs.handle(message)
        } else {
          core.log.info({ peer: this.peer, objects: message.objects.length }, 'objects left scope')
          this.options.onLeft?.(message.objects)
        }
      }
    } catch (error) {
      // Nothing of the session goes on behind its end: the batch being applied finishes.
      await applying.catch(() => undefined)
      throw error
    }
    await applying
  }

  private startHeartbeat(): NodeJS.Timeout {
    const { core } = this
    const every = this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    this.lastReceivedAt = Date.now()
    const timer = setInterval(() => {
      if (core.closed) return
      const now = Date.now()
      if (now - this.lastReceivedAt > SILENT_HEARTBEATS * every) {
        this.fail(new Error(`nothing heard from ${this.peer} for ${now - this.lastReceivedAt} ms`))
      } else if (now - core.lastSentAt >= every) {
        core.send({ t: 'tick' }).catch((error: unknown) => this.fail(error))
      }
    }, every)
    timer.unref()
    return timer
  }

  private fail(error: unknown): void {
    const { core } = this
    if (!core.closed) {
      this.ended ??= error instanceof Error ? error.message : String(error)
      if (error instanceof PeerMisbehaving) this.endedForPeer = true
      core.log.warn({ peer: this.peer, err: error }, 'sync session ended')
    }
    core.markClosed()
    core.channel.abort(error instanceof Error ? error : new Error(String(error)))
  }
}
