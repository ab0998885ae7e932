// File contents between two peers, inside one sync session: the fetching side (content
// of file objects held here whose content is not) and the serving side (content named
// by file objects shared with the peer, with their owners) run independently over the
// session's channel. This front routes the peer's blob messages to them. Both report
// what moves to the engine's per-peer ledger (transfer-stats.ts), which outlives sessions.
import type { Logger } from '../../log.ts'
import type { InstanceId, ObjectId } from '../../model/index.ts'
import type { ObjectStore } from '../../store/index.ts'
import type { BlobMessage, SyncMessage } from '../messages.ts'
import { SessionScope } from '../session-scope.ts'
import type { PeerScope } from '../scope.ts'
import { BlobFetcher } from './blob-fetcher.ts'
import { BlobServer } from './blob-server.ts'
import type { BlobTransferStats } from './blob-sharing.ts'
import { FileTransferStats } from './transfer-stats.ts'

export type { BlobTransferStats } from './blob-sharing.ts'
export {
  FileTransferStats,
  type ActiveTransfer,
  type PeerTransfers,
  type TransferDirection,
} from './transfer-stats.ts'

export interface BlobTransferOptions {
  peer: InstanceId
  store: ObjectStore
  /** What the peer may see: a session's verdicts, or a scope to make them from. */
  scope: PeerScope | SessionScope
  send: (message: SyncMessage) => Promise<void>
  logger: Logger
  /** Content being fetched by any session of this instance: one fetch per blob at a time. */
  inFlight: Set<string>
  /** Transfers per peer, kept across sessions (a ledger of this session's own when absent). */
  transfers?: FileTransferStats
  /** Chunk requests in flight per fetch (default 4: 1 MiB at 256 KiB chunks). */
  window?: number
  /** How long content the peer could not give waits before it is asked for again. */
  retryMs?: number
  /** How long an answer to a request (a manifest, a chunk) may take (default 60 s). */
  requestTimeoutMs?: number
}

const DEFAULT_WINDOW = 4
const DEFAULT_RETRY_MS = 30_000
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000

export class BlobTransfer {
  readonly stats: BlobTransferStats = {
    chunksSent: 0,
    chunksReceived: 0,
    chunksRefused: 0,
    blobsCompleted: 0,
    blobsUnavailable: 0,
    blobsNotAsked: 0,
  }
  private readonly fetcher: BlobFetcher
  private readonly server: BlobServer

  constructor(options: BlobTransferOptions) {
    const { peer, store, send, logger } = options
    const scope =
      options.scope instanceof SessionScope
        ? options.scope
        : new SessionScope({ scope: options.scope, store })
    const transfers = options.transfers ?? new FileTransferStats()
    const components = { peer, store, scope, send, logger, stats: this.stats, transfers }
    this.fetcher = new BlobFetcher(components, {
      inFlight: options.inFlight,
      window: options.window ?? DEFAULT_WINDOW,
      retryMs: options.retryMs ?? DEFAULT_RETRY_MS,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    })
    this.server = new BlobServer(components)
  }

  /** Starts fetching whatever content is wanted (from earlier sessions too). */
  start(): void {
    this.fetcher.kick()
  }

  close(): void {
    this.fetcher.close()
    this.server.close()
  }

  /**
   * After facets from the peer were applied: file objects among `objects` whose content
   * is not held here become wanted, and are fetched.
   */
  notice(objects: readonly ObjectId[]): Promise<void> {
    return this.fetcher.notice(objects)
  }

  /** Handles a blob message from the peer. */
  async handle(message: BlobMessage): Promise<void> {
    switch (message.t) {
      case 'blob-get':
        return this.server.serveManifest(message.sha256, message.object)
      case 'chunk-get':
        return this.server.serveChunk(message.sha256, message.index)
      case 'blob-manifest':
      case 'blob-none':
        return this.fetcher.answered(message)
      case 'chunk':
        return this.fetcher.chunkArrived(message)
    }
  }
}
