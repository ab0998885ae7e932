// The side that holds a file object whose content it lacks: it asks the peer for the
// content's manifest, then for the chunks it is missing, a few at a time, so that record
// batches keep flowing between them. Every chunk is checked against the manifest's hash
// for it as it arrives, and the whole against the file's sha256 before the content
// becomes visible; what was received survives a lost session or a restart, so only
// missing chunks are asked for again.
import { isObjectSyncError } from '../../errors.ts'
import type { ObjectId } from '../../model/index.ts'
import { ReceivingBudgetError, type BlobManifest } from '../../store/index.ts'
import type { BlobMessage } from '../messages.ts'
import { refusal, type BlobComponents } from './blob-sharing.ts'
import type { Transfer } from './transfer-stats.ts'

export interface BlobFetcherOptions {
  /** Content being fetched by any session of this instance: one fetch per blob at a time. */
  inFlight: Set<string>
  /** Chunk requests in flight per fetch. */
  window: number
  /** How long content the peer could not give waits before it is asked for again. */
  retryMs: number
  /** How long an answer to a request (a manifest, a chunk) may take. */
  requestTimeoutMs: number
}

/** A chunk that arrives wrong this many times is given up on for this session. */
const CHUNK_ATTEMPTS = 3

type ArrivedChunk = Extract<BlobMessage, { t: 'chunk' }>
type Answer = Extract<BlobMessage, { t: 'blob-manifest' | 'blob-none' }>

export class BlobFetcher {
  private closed = false
  private running = false
  private rerun = false
  /**
   * Content this session could not get from the peer, and when to ask again: the peer may
   * get it meanwhile (it relays a file whose content it is still fetching itself).
   */
  private readonly failed = new Map<string, number>()
  private retryTimer: NodeJS.Timeout | undefined
  private answer: { sha256: string; resolve: (answer: BlobMessage | undefined) => void } | undefined
  private readonly inbox: ArrivedChunk[] = []
  /** The content whose chunks are being fetched, and why the peer stopped, if it did. */
  private fetching: string | undefined
  private refusedWhileFetching: string | undefined
  private wakeFetcher: (() => void) | undefined

  constructor(
    private readonly components: BlobComponents,
    private readonly options: BlobFetcherOptions,
  ) {}

  close(): void {
    this.closed = true
    clearTimeout(this.retryTimer)
    this.answer?.resolve(undefined)
    this.answer = undefined
    this.wakeFetcher?.()
  }

  /**
   * After facets from the peer were applied: file objects among `objects` whose content
   * is not held here become wanted, and are fetched.
   */
  async notice(objects: readonly ObjectId[]): Promise<void> {
    const { store } = this.components
    let wanted = false
    for (const id of objects) {
      const object = await store.get(id)
      const sha = object?.fields.sha256
      if (object?.type !== 'file' || object.deleted || typeof sha !== 'string') continue
      if (await store.blobs.has(sha)) continue
      await store.blobs.want(sha, id)
      wanted = true
    }
    if (wanted) this.kick()
  }

  /** The peer's answer to a blob-get (or its refusal to go on serving what is fetched). */
  answered(message: Answer): void {
    if (this.answer?.sha256 === message.sha256) {
      this.answer.resolve(message)
      this.answer = undefined
    } else if (message.t === 'blob-none' && this.fetching === message.sha256) {
      // The peer stopped serving what is being fetched (its file changed meanwhile).
      this.refusedWhileFetching = message.reason
      this.wakeFetcher?.()
    }
  }

  chunkArrived(message: ArrivedChunk): void {
    // Only chunks of what is being fetched, and no more than were asked for: a peer
    // can't make this side hold what it sends unasked.
    if (this.fetching !== message.sha256 || this.inbox.length >= this.options.window) {
      this.components.logger.warn(
        { peer: this.components.peer, sha256: message.sha256, chunk: message.index },
        'file chunk not asked for; dropped',
      )
      return
    }
    this.inbox.push(message)
    this.wakeFetcher?.()
  }

  /** Starts fetching whatever content is wanted, unless a fetch is running (then once more after it). */
  kick(): void {
    if (this.running) {
      this.rerun = true
      return
    }
    this.running = true
    void this.fetchWanted()
      .catch((error: unknown) => {
        if (!this.closed) {
          this.components.logger.error(
            { peer: this.components.peer, err: error },
            'file fetch failed',
          )
        }
      })
      .finally(() => {
        this.running = false
        if (this.rerun && !this.closed) {
          this.rerun = false
          this.kick()
        }
      })
  }

  private async fetchWanted(): Promise<void> {
    const { inFlight } = this.options
    for (;;) {
      this.rerun = false
      const next = await this.nextWanted()
      if (next === undefined || this.closed) return
      const [sha, object] = next
      inFlight.add(sha)
      try {
        await this.fetch(sha, object)
      } finally {
        inFlight.delete(sha)
      }
    }
  }

  /**
   * The next content to ask this peer for: wanted, not being fetched by another session,
   * not given up on lately, and named by a file this peer shares with us (it is not
   * asked about files outside its scope). Schedules the next look when there is none.
   */
  private async nextWanted(): Promise<[string, ObjectId] | undefined> {
    const { store, stats } = this.components
    const { inFlight } = this.options
    const wanted = await store.blobs.wanted()
    for (const sha of this.failed.keys()) if (!wanted.has(sha)) this.failed.delete(sha)
    const now = Date.now()
    let elsewhere = false
    for (const [sha, object] of wanted) {
      if (inFlight.has(sha)) {
        elsewhere = true // looked at again later: that fetch may fail
        continue
      }
      if ((this.failed.get(sha) ?? 0) > now) continue
      if ((await refusal(this.components, sha, object as ObjectId)) !== undefined) {
        stats.blobsNotAsked++
        this.giveUp(sha)
        continue
      }
      return [sha, object as ObjectId]
    }
    this.scheduleRetry(elsewhere)
    return undefined
  }

  private async fetch(sha: string, object: ObjectId): Promise<void> {
    const { store, peer, transfers } = this.components
    if (await store.blobs.has(sha)) {
      await store.blobs.unwant(sha)
      return
    }
    const transfer = transfers.begin(peer, { file: object, sha256: sha, direction: 'in' })
    let received = false
    try {
      received = await this.receive(sha, object, transfer)
    } finally {
      transfer.end(received ? 'done' : 'failed')
    }
  }

  /** Asks for the content, then its chunks; true once it is here whole and verified. */
  private async receive(sha: string, object: ObjectId, transfer: Transfer): Promise<boolean> {
    const { store, peer, logger } = this.components
    const where = { peer, object, sha256: sha }
    const answer = await this.ask(sha, object)
    if (answer === undefined) return false // the session ended
    if (answer === 'timeout' || answer.t !== 'blob-manifest') {
      this.components.stats.blobsUnavailable++
      const reason =
        answer === 'timeout'
          ? `no answer within ${this.options.requestTimeoutMs} ms`
          : answer.t === 'blob-none'
            ? answer.reason
            : answer.t
      logger.info({ ...where, reason }, 'file content not available from this peer')
      this.giveUp(sha)
      return false
    }
    transfer.sized(answer.size)
    const manifest: BlobManifest = {
      sha256: sha,
      size: answer.size,
      chunkBytes: answer.chunkBytes,
      chunks: Array.from({ length: answer.chunks.length / 32 }, (_, i) =>
        Buffer.from(answer.chunks.subarray(i * 32, (i + 1) * 32)).toString('hex'),
      ),
    }
    try {
      const dropped = await store.blobs.beginIncoming(manifest, {
        peer,
        busy: (other) => other !== sha && this.options.inFlight.has(other),
      })
      if (dropped.length > 0) {
        logger.warn(
          { ...where, dropped: dropped.length },
          'unfinished file transfers from this peer dropped: what it sends unverified is kept within files.receivingBytesPerPeer',
        )
      }
    } catch (error) {
      // A budget taken by transfers in progress is what a peer that starts many and
      // finishes none meets: a warning, then later again.
      if (error instanceof ReceivingBudgetError)
        logger.warn({ ...where, reason: error.message }, 'file content not fetched now')
      else logger.error({ ...where, err: error }, 'file content refused')
      this.giveUp(sha)
      // Too large is final: no peer will send it smaller.
      if (isObjectSyncError(error, 'BLOB_TOO_LARGE')) await store.blobs.unwant(sha)
      return false
    }
    this.fetching = sha
    this.refusedWhileFetching = undefined
    this.inbox.length = 0
    try {
      if (!(await this.fetchChunks(manifest, object, transfer))) return false
    } finally {
      this.fetching = undefined
    }
    const result = await store.blobs.completeIncoming(sha)
    if (result === 'complete') {
      await store.blobs.unwant(sha)
      this.components.stats.blobsCompleted++
      // What waits for it (the local system's file row) hears of it from the blob store.
      logger.info({ ...where, bytes: manifest.size }, 'file content received')
      return true
    }
    logger.error({ ...where, result }, 'file content does not hash to its sha256; dropped')
    this.giveUp(sha)
    return false
  }

  private giveUp(sha: string): void {
    this.failed.set(sha, Date.now() + this.options.retryMs)
  }

  /** Asks again, once the earliest content given up on is due. */
  private scheduleRetry(elsewhere: boolean): void {
    if (this.closed || this.retryTimer !== undefined) return
    const retryMs = this.options.retryMs
    const dues = [...this.failed.values(), ...(elsewhere ? [Date.now() + retryMs] : [])]
    if (dues.length === 0) return
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined
        this.kick()
      },
      Math.max(10, Math.min(...dues) - Date.now()),
    )
    this.retryTimer.unref()
  }

  /** The peer's answer to a blob-get; 'timeout' when none comes in time. */
  private ask(sha: string, object: ObjectId): Promise<BlobMessage | 'timeout' | undefined> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(undefined)
        return
      }
      const timer = setTimeout(() => {
        this.answer = undefined
        resolve('timeout')
      }, this.options.requestTimeoutMs)
      const done = (answer: BlobMessage | undefined) => {
        clearTimeout(timer)
        resolve(answer)
      }
      this.answer = { sha256: sha, resolve: done }
      this.components.send({ t: 'blob-get', sha256: sha, object }).catch(() => {
        this.answer = undefined
        done(undefined)
      })
    })
  }

  /** Asks for the chunks not held yet, a window at a time; false if it could not finish. */
  private async fetchChunks(
    manifest: BlobManifest,
    object: ObjectId,
    transfer: Transfer,
  ): Promise<boolean> {
    const { store, send, peer, logger, stats } = this.components
    const sha = manifest.sha256
    const window = this.options.window
    const queue = await store.blobs.missingChunks(sha)
    const outstanding = new Set<number>()
    const attempts = new Map<number, number>()
    while (queue.length > 0 || outstanding.size > 0) {
      while (outstanding.size < window && queue.length > 0) {
        const index = queue.shift()!
        outstanding.add(index)
        await send({ t: 'chunk-get', sha256: sha, index })
      }
      const chunk = await this.nextChunk()
      if (chunk === undefined) {
        if (this.refusedWhileFetching !== undefined) {
          logger.info(
            { peer, object, sha256: sha, reason: this.refusedWhileFetching },
            'file content no longer served by this peer',
          )
          this.giveUp(sha)
        }
        return false
      }
      if (chunk.sha256 !== sha || !outstanding.delete(chunk.index)) continue
      stats.chunksReceived++
      transfer.moved(chunk.data.length)
      const result = await store.blobs.putChunk(sha, chunk.index, chunk.data)
      if (result !== 'mismatch') continue
      stats.chunksRefused++
      const tries = (attempts.get(chunk.index) ?? 0) + 1
      attempts.set(chunk.index, tries)
      if (tries >= CHUNK_ATTEMPTS) {
        logger.error(
          { peer, object, sha256: sha, chunk: chunk.index, tries },
          'file chunk keeps arriving damaged; giving up on this peer for now',
        )
        this.giveUp(sha)
        return false
      }
      logger.warn(
        { peer, object, sha256: sha, chunk: chunk.index },
        'file chunk refused: it does not match its hash; asking again',
      )
      queue.push(chunk.index)
    }
    return true
  }

  /** The next chunk to arrive; undefined when the session ends, the peer stops, or none comes in time. */
  private async nextChunk(): Promise<ArrivedChunk | undefined> {
    while (this.inbox.length === 0) {
      if (this.closed || this.refusedWhileFetching !== undefined) return undefined
      let timer: NodeJS.Timeout | undefined
      const arrived = await new Promise<boolean>((resolve) => {
        this.wakeFetcher = () => resolve(true)
        timer = setTimeout(() => resolve(false), this.options.requestTimeoutMs)
      })
      clearTimeout(timer)
      this.wakeFetcher = undefined
      if (!arrived) {
        this.refusedWhileFetching = `no chunk within ${this.options.requestTimeoutMs} ms`
        return undefined
      }
    }
    return this.inbox.shift()
  }
}
