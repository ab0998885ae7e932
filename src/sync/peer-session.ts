// One sync session with one peer over one channel. Both sides play both roles: each asks
// for the other's feed after the cursor it saved, and sends its own — whole facets,
// many per frame, under credit-based flow control — then pushes new changes live.
import { createHash } from 'node:crypto'
import type { Logger } from '../log.ts'
import type { ChannelTraffic } from '../net/index.ts'
import {
  CORE_FACET,
  facetId,
  isObjectId,
  isObjectType,
  parseFacetId,
  type FacetId,
  type FacetName,
  type InstanceId,
  type ObjectId,
  type ObjectType,
} from '../model/index.ts'
import { readFacetBytes, type FeedEntry, type ObjectStore } from '../store/index.ts'
import { BlobTransfer, type BlobTransferStats } from './blob-transfer.ts'
import { decodeMessage, encodeMessage, isBlobMessage, type SyncMessage } from './messages.ts'
import { SHARE_EVERYTHING, type PeerScope } from './scope.ts'

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
const FEED_PAGE = 2000
const DEFAULT_HEARTBEAT_MS = 15_000
const SILENT_HEARTBEATS = 3

export function cursorKey(peer: InstanceId): string {
  return `received/${peer}`
}

/** Our feed sequence up to which `peer` has applied everything we sent it (it said so). */
export function ackedKey(peer: InstanceId): string {
  return `acked/${peer}`
}

/** Where an interrupted first sync from `peer` stands: its token, and facets received. */
export function firstSyncKey(peer: InstanceId): string {
  return `first-sync/${peer}`
}

/**
 * A first-sync scan position, as the sender puts it in each batch's resume token: the
 * feed sequence the scan started at, the scan source (everything, or one type of the
 * scope) and the key after which it goes on, and the scope it was made for.
 */
interface ScanPosition {
  seq: number
  source: number
  after: string | undefined
  scope: string
}

export class PeerSession {
  readonly peer: InstanceId
  readonly progress: SessionProgress = { total: 0, done: 0, caughtUp: false }
  readonly stats = {
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
  private credits = 0
  private wakeSender: (() => void) | undefined
  private closed = false
  private received = 0
  /** True while a batch from the peer is being applied. */
  private applying = false
  /** Facets the peer just gave us whole: their feed entries are not sent back to it. */
  private readonly echoes = new Set<FacetId>()
  private readonly batchBytes: number
  private readonly log: Logger
  private readonly scope: PeerScope
  /** Facets received in earlier sessions of an interrupted first sync. */
  private resumedDone = 0
  private lastSentAt = 0
  private lastReceivedAt = 0
  /** The first credit of a session is the peer's grant; each later one acknowledges a batch. */
  private granted = false
  /** `upTo` of each batch sent and not acknowledged yet, oldest first. */
  private readonly unacknowledged: number[] = []
  private ackedUpTo = 0
  private readonly blobs: BlobTransfer

  constructor(private readonly options: SessionOptions) {
    this.peer = options.channel.remote
    this.batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES
    this.scope = options.scope ?? SHARE_EVERYTHING
    this.log = options.logger
    this.blobs = new BlobTransfer({
      peer: this.peer,
      store: options.store,
      scope: this.scope,
      send: (message) => this.send(message),
      logger: this.log,
      inFlight: options.blobsInFlight ?? new Set(),
      ...(options.blobWindow === undefined ? {} : { window: options.blobWindow }),
      ...(options.blobRetryMs === undefined ? {} : { retryMs: options.blobRetryMs }),
    })
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
    return this.received
  }

  /** Runs until the channel ends; never throws (a broken session is logged and closed). */
  async run(): Promise<void> {
    const { channel, store } = this.options
    const heartbeat = this.startHeartbeat()
    try {
      this.received = await readCursor(store, this.peer)
      const interrupted = this.received === 0 ? await this.readFirstSync() : undefined
      await this.send({
        t: 'want',
        after: this.received,
        ...(interrupted === undefined ? {} : { resume: interrupted.token }),
      })
      this.resumedDone = interrupted?.done ?? 0
      await this.send({ t: 'credit', n: this.options.credits ?? DEFAULT_CREDITS })
      this.blobs.start()
      let sender: Promise<void> | undefined
      for await (const payload of channel) {
        this.lastReceivedAt = Date.now()
        const message = decodeMessage(payload)
        if (typeof message === 'string') {
          this.log.warn(
            { peer: this.peer, reason: message },
            'sync message refused; closing the session',
          )
          channel.abort(new Error(`sync protocol violation: ${message}`))
          break
        }
        if (message.t === 'want') {
          sender ??= this.sendFeed(message.after, message.resume).catch((error: unknown) =>
            this.fail(error),
          )
        } else if (message.t === 'credit') {
          this.credits += message.n
          this.wake()
          await this.acknowledged(message.n)
        } else if (message.t === 'plan') {
          if (message.lastSeq < this.received) {
            // The peer's feed is shorter than our cursor (its store was reset or restored):
            // start over from 0 on the next session rather than skip what it has now.
            this.log.warn(
              { peer: this.peer, cursor: this.received, peerLastSeq: message.lastSeq },
              'sync cursor beyond the peer feed; starting over',
            )
            await store.putSyncState(cursorKey(this.peer), new TextEncoder().encode('0'))
            channel.abort(new Error('sync cursor beyond the peer feed'))
            break
          }
          this.peerLastSeq = message.lastSeq
          this.progress.total = message.total
          this.progress.done = this.resumedDone
          this.options.onProgress?.({ ...this.progress })
        } else if (message.t === 'tick') {
          continue
        } else if (message.t === 'live') {
          this.progress.caughtUp = true
          this.progress.done = Math.max(this.progress.done, this.progress.total)
          this.options.onProgress?.({ ...this.progress })
        } else if (isBlobMessage(message)) {
          await this.blobs.handle(message)
        } else if (message.t === 'left') {
          this.log.info({ peer: this.peer, objects: message.objects.length }, 'objects left scope')
          this.options.onLeft?.(message.objects)
        } else {
          await this.receiveBatch(message.items, message.upTo, message.resume)
        }
      }
    } catch (error) {
      this.fail(error)
    } finally {
      clearInterval(heartbeat)
      this.blobs.close()
      this.closed = true
      this.wake()
      // The peer ended its side (or we broke off): end ours, or its session would wait
      // on us forever. Regression: a dropped session left the other side hanging, and
      // neither redialled.
      await channel.close().catch(() => {})
    }
  }

  close(): void {
    this.blobs.close()
    this.closed = true
    this.wake()
    void this.options.channel.close()
  }

  /**
   * Per item, whether its object may come from this peer: for a type shared object by
   * object, the object as it is here must be in the peer's scope, or, for an object new
   * here, as it arrives (its core must come in the same batch). A peer can't push into
   * us what we don't share with it.
   */
  private async admittedObjects(items: readonly [FacetId, Uint8Array][]): Promise<boolean[]> {
    if (!this.scope.types.some((type) => this.scope.objectFilter(type) !== undefined)) {
      return items.map(() => true)
    }
    const arrivingCores = new Map<ObjectId, Uint8Array>()
    for (const [facet, bytes] of items) {
      const parsed = parseFacetId(facet)
      if (parsed?.facet === CORE_FACET) arrivingCores.set(parsed.object, bytes)
    }
    const verdicts = new Map<ObjectId, boolean>()
    const admitted: boolean[] = []
    for (const [facet, bytes] of items) {
      const parsed = parseFacetId(facet)
      // A malformed id: the store refuses it and says why.
      if (parsed === undefined) {
        admitted.push(true)
        continue
      }
      let verdict = verdicts.get(parsed.object)
      if (verdict === undefined) {
        const here = await this.options.store.get(parsed.object)
        // The type as it is here; for an object new here, as its bytes say. Bytes that
        // don't read on their own (changes on top of what we hold) can't pass as anything.
        const type = here?.type ?? readFacetBytes(bytes)?.type
        if (type === undefined || !isObjectType(type)) {
          verdict = false
        } else {
          const filter = this.scope.objectFilter(type)
          const arriving = arrivingCores.get(parsed.object)
          const fields =
            here?.fields ?? (arriving === undefined ? undefined : readFacetBytes(arriving)?.fields)
          verdict =
            filter === undefined || (fields !== undefined && filter(fields, parsed.object, 'in'))
        }
        verdicts.set(parsed.object, verdict)
      }
      admitted.push(verdict)
    }
    return admitted
  }

  private async receiveBatch(
    items: [FacetId, Uint8Array][],
    upTo: number,
    resume: string | undefined,
  ): Promise<void> {
    const { store } = this.options
    this.stats.batchesReceived++
    this.applying = true
    const scope = this.scope
    const admitted = await this.admittedObjects(items)
    const outcomes = await store.applyRemoteDocuments(
      items.filter((_, index) => admitted[index]),
      (type, facet) => scope.allows(type, facet),
      this.peer,
    )
    for (const [index, item] of items.entries()) {
      if (admitted[index]) continue
      this.stats.facetsRefused++
      this.log.warn(
        { peer: this.peer, facet: item[0] },
        'facet from peer refused: its object is outside what this instance shares with the peer',
      )
    }
    const appliedItems = items.filter((_, index) => admitted[index])
    // One bad facet is refused and reported; the rest of the batch still applies.
    const results = outcomes.map((outcome, index) => {
      if (!(outcome instanceof Error)) return outcome
      this.stats.facetsRefused++
      this.log.error(
        { peer: this.peer, facet: appliedItems[index]![0], err: outcome },
        'facet from peer refused',
      )
      return undefined
    })
    for (const result of results) if (result?.storedAsReceived) this.echoes.add(result.facet)
    this.applying = false
    this.wake()
    const changed = results.filter((result) => result?.changed === true).length
    this.stats.facetsApplied += changed
    this.progress.done += items.length
    if (upTo > this.received) {
      // The first sync (if one was running) is complete: the cursor takes over.
      this.received = upTo
      await store.updateSyncState([
        [cursorKey(this.peer), encodeText(String(upTo))],
        [firstSyncKey(this.peer), undefined],
      ])
    } else if (resume !== undefined && this.received === 0) {
      // Saved after the batch is applied: a crash in between resends it, and applying
      // a facet twice changes nothing.
      await store.putSyncState(
        firstSyncKey(this.peer),
        encodeText(JSON.stringify({ token: resume, done: this.progress.done })),
      )
    }
    this.options.onProgress?.({ ...this.progress })
    this.options.onApplied?.(changed)
    await this.send({ t: 'credit', n: 1 })
    const files = results.flatMap((result) =>
      result?.changed === true && result.type === 'file' ? [result.object] : [],
    )
    if (files.length > 0) await this.blobs.notice(files)
  }

  /** Sends the peer everything after `after`, then every new change as it happens. */
  private async sendFeed(after: number, resume: string | undefined): Promise<void> {
    const { store } = this.options
    const queued: FeedEntry[] = []
    const unsubscribe = store.on('feed', (entries) => {
      queued.push(...entries)
      this.wake()
    })
    try {
      const start = store.lastSeq
      // A scope that changed since this peer was last sent anything (peers.json edited)
      // may hold objects the feed after its cursor never names: go through them all.
      const scopeAtLastSend = await store.getSyncState(scopeKey(this.peer))
      const scopeChanged =
        scopeAtLastSend !== undefined &&
        new TextDecoder().decode(scopeAtLastSend) !== this.scope.key
      if (scopeChanged) {
        this.log.info({ peer: this.peer }, 'scope changed; sending everything now in scope')
      }
      await this.send({
        t: 'plan',
        total: Math.max(0, scopeChanged ? start : start - after),
        lastSeq: start,
      })
      if (after === 0 || scopeChanged) {
        await this.sendEverything(
          start,
          after === 0 ? this.resumePosition(resume, start) : undefined,
        )
      } else {
        await this.sendFeedRange(after, start)
      }
      if (scopeChanged) await this.announceDropped()
      if (scopeAtLastSend === undefined || scopeChanged) {
        await store.putSyncState(scopeKey(this.peer), encodeText(this.scope.key))
      }
      this.sentUpTo = Math.max(this.sentUpTo, start)
      await this.send({ t: 'live' })
      while (!this.closed) {
        // Wait out a batch being applied, so that its echoes are known before we look.
        // Every queued entry clears its echo mark, whether or not it is sent.
        const taken = this.applying ? [] : queued.splice(0)
        const fresh = taken.filter(
          (entry) =>
            !this.echoes.delete(entry.facet) &&
            entry.seq > this.sentUpTo &&
            // A touch made for this peer (its object joined a group here) is no news to it.
            !(entry.touch === true && entry.from === this.peer),
        )
        const upTo = taken.at(-1)?.seq ?? 0
        if (fresh.length === 0) {
          // Echoes of the peer's own changes are not pending for it: it holds them.
          this.sentUpTo = Math.max(this.sentUpTo, upTo)
          // Not awaited: nothing may come between looking at the queue and waiting, or a
          // wake in between would be lost.
          this.peerHolds(upTo)
          await new Promise<void>((resolve) => (this.wakeSender = resolve))
          continue
        }
        // A burst of edits is coalesced: each facet goes once, at its latest state.
        await this.sendFacets(this.inScope(fresh), upTo)
      }
    } finally {
      unsubscribe()
    }
  }

  /**
   * First sync: every stored facet in scope. With everything shared, the store is read in
   * key order without loading anything; otherwise type by type, through the type index.
   * Each batch says where the scan stands, so an interrupted first sync resumes there:
   * what changed behind the scan meanwhile is in the feed after the scan's start, which
   * follows the scan.
   */
  private async sendEverything(upTo: number, from: ScanPosition | undefined): Promise<void> {
    const { store } = this.options
    const sources = this.scope.everything
      ? [(after?: string) => store.scanFacets({ after, maxBytes: this.batchBytes })]
      : this.scope.types.map(
          (type) => (after?: string) =>
            store.scanFacetsOfType(type, { after, maxBytes: this.batchBytes }),
        )
    const seq = from?.seq ?? upTo
    for (let source = from?.source ?? 0; source < sources.length && !this.closed; source++) {
      let after = source === from?.source ? from.after : undefined
      do {
        const page = await sources[source]!(after)
        after = page.next
        const items = await this.pageInScope(
          page.facets,
          this.scope.everything ? undefined : this.scope.types[source],
        )
        const finished = source === sources.length - 1 && after === undefined
        const position: ScanPosition =
          after === undefined
            ? { seq, source: source + 1, after: undefined, scope: scopeDigest(this.scope) }
            : { seq, source, after, scope: scopeDigest(this.scope) }
        // Only the very last page of a scan from scratch covers the feed up to `upTo`.
        await this.sendBatch(
          items,
          finished && from === undefined ? upTo : 0,
          JSON.stringify(position),
        )
      } while (after !== undefined && !this.closed)
    }
    if (from !== undefined && !this.closed) {
      await this.sendFeedRange(from.seq, upTo)
      // However little the feed range held, the peer learns that it has everything.
      await this.sendBatch([], upTo)
    }
  }

  /** The scan position in a peer's resume token, when it still applies here. */
  private resumePosition(token: string | undefined, lastSeq: number): ScanPosition | undefined {
    if (token === undefined) return undefined
    let position: Partial<ScanPosition>
    try {
      position = JSON.parse(token) as Partial<ScanPosition>
    } catch {
      return undefined
    }
    const valid =
      typeof position === 'object' &&
      position !== null &&
      Number.isSafeInteger(position.seq) &&
      position.seq! > 0 &&
      position.seq! <= lastSeq &&
      Number.isSafeInteger(position.source) &&
      position.source! >= 0 &&
      (position.after === undefined || typeof position.after === 'string') &&
      position.scope === scopeDigest(this.scope)
    if (!valid) {
      // Made for another scope or another store: start over rather than skip anything.
      this.log.info({ peer: this.peer }, 'first-sync resume token does not apply; starting over')
      return undefined
    }
    return position as ScanPosition
  }

  private inScope(entries: readonly FeedEntry[]): FeedEntry[] {
    const seen = new Set<FacetId>()
    return entries.filter((entry) => {
      if (seen.has(entry.facet) || !this.scope.allows(entry.type, facetNameOf(entry.facet))) {
        return false
      }
      seen.add(entry.facet)
      return true
    })
  }

  /**
   * Object-level scope for changed facets. An object of a filtered type goes only while
   * its core fields match the peer's rules, so a change to its core (the only thing that
   * can move it in or out) sends all its shared facets: the peer may be seeing it for the
   * first time. An object that no longer matches is announced as left — not deleted — if
   * the peer ever had it from us; each object's last verdict is kept in sync state
   * (`shared/<peer>/<id>`: in or left), so a resent feed range repeats the same answer
   * and objects the peer never saw are never named to it.
   */
  /** Files go to a peer only while their owner does too (when the scope could differ). */
  private ownerRuleFor(type: ObjectType): boolean {
    return type === 'file' && !this.scope.everything
  }

  /** Whether the owner a file's fields name is in this peer's scope (no owner: yes). */
  private async ownerInScope(fields: Readonly<Record<string, unknown>>): Promise<boolean> {
    const ownerId = fields.ownerId
    if (ownerId === undefined) return true
    if (typeof ownerId !== 'string' || !isObjectId(ownerId)) return false
    const core = await this.options.store.getFacetBytes(facetId(ownerId, CORE_FACET))
    const owner = core === undefined ? undefined : readFacetBytes(core)
    if (owner === undefined || owner.deleted || !isObjectType(owner.type)) return false
    if (!this.scope.types.includes(owner.type)) return false
    const filter = this.scope.objectFilter(owner.type)
    return filter === undefined || filter(owner.fields, ownerId, 'out')
  }

  private async selectObjects(
    entries: readonly FeedEntry[],
  ): Promise<{ facets: FacetId[]; left: ObjectId[] }> {
    const { store } = this.options
    const facets: FacetId[] = []
    const left: ObjectId[] = []
    const admittedByObject = new Map<ObjectId, boolean>()
    const marks: [string, Uint8Array][] = []
    for (const entry of entries) {
      const filter = this.scope.objectFilter(entry.type)
      const ownerRule = this.ownerRuleFor(entry.type)
      if (filter === undefined && !ownerRule) {
        facets.push(entry.facet)
        continue
      }
      let admitted = admittedByObject.get(entry.object)
      if (admitted === undefined) {
        const core = await store.getFacetBytes(facetId(entry.object, CORE_FACET))
        const content = core === undefined ? undefined : readFacetBytes(core)
        const key = sharedKey(this.peer, entry.object)
        const mark = await store.getSyncState(key)
        // A delete of an object the peer holds from us goes, whatever the rules say now
        // (its record may have left the group in the same breath).
        admitted =
          content !== undefined &&
          (((filter?.(content.fields, entry.object, 'out') ?? true) &&
            (!ownerRule || (await this.ownerInScope(content.fields)))) ||
            (content.deleted && sameBytes(mark, MARK_IN)))
        admittedByObject.set(entry.object, admitted)
        if (admitted && !sameBytes(mark, MARK_IN)) marks.push([key, MARK_IN])
        if (!admitted && mark !== undefined) {
          left.push(entry.object)
          if (!sameBytes(mark, MARK_LEFT)) marks.push([key, MARK_LEFT])
        }
      }
      if (!admitted) continue
      if (facetNameOf(entry.facet) !== CORE_FACET) {
        facets.push(entry.facet)
        continue
      }
      for (const name of await store.facetsOf(entry.object)) {
        if (this.scope.allows(entry.type, name)) facets.push(facetId(entry.object, name))
      }
    }
    if (marks.length > 0) await store.updateSyncState(marks)
    return { facets: unique(facets), left }
  }

  /**
   * After a scope change: the objects the peer holds from us (marked in) that the new
   * scope no longer takes are announced as left. Objects of a type that was shared whole
   * carry no mark; they are not named (the peer keeps them, as it would anyway).
   */
  private async announceDropped(): Promise<void> {
    const { store } = this.options
    const prefix = sharedKey(this.peer, '' as ObjectId)
    let left: ObjectId[] = []
    let marks: [string, Uint8Array][] = []
    const flush = async () => {
      if (left.length > 0) await this.send({ t: 'left', objects: left })
      if (marks.length > 0) await store.updateSyncState(marks)
      left = []
      marks = []
    }
    for await (const [key, value] of store.scanSyncState(prefix)) {
      if (!sameBytes(value, MARK_IN)) continue
      const id = key.slice(prefix.length) as ObjectId
      const core = await store.getFacetBytes(facetId(id, CORE_FACET))
      const content = core === undefined ? undefined : readFacetBytes(core)
      if (content === undefined || !isObjectType(content.type)) continue
      const filter = this.scope.objectFilter(content.type)
      const inScope =
        this.scope.types.includes(content.type) &&
        (filter === undefined || filter(content.fields, id, 'out'))
      if (inScope) continue
      left.push(id)
      marks.push([key, MARK_LEFT])
      if (left.length >= LEFT_PAGE) await flush()
    }
    await flush()
  }

  /**
   * The facets of a first-sync page (whole objects of `type`, or of every type) that the
   * peer may have; objects of a filtered type are marked as held by the peer.
   */
  private async pageInScope(
    page: readonly { facet: FacetId; bytes: Uint8Array }[],
    type: ObjectType | undefined,
  ): Promise<[FacetId, Uint8Array][]> {
    if (type === undefined) return page.map(({ facet, bytes }) => [facet, bytes])
    const filter = this.scope.objectFilter(type)
    const ownerRule = this.ownerRuleFor(type)
    const admitted = new Map<ObjectId, boolean>()
    if (filter !== undefined || ownerRule) {
      for (const { facet, bytes } of page) {
        const parsed = parseFacetId(facet)
        if (parsed?.facet !== CORE_FACET) continue
        const content = readFacetBytes(bytes)
        admitted.set(
          parsed.object,
          content !== undefined &&
            (filter?.(content.fields, parsed.object, 'out') ?? true) &&
            (!ownerRule || (await this.ownerInScope(content.fields))),
        )
      }
      const marks = [...admitted]
        .filter(([, inScope]) => inScope)
        .map(([object]) => [sharedKey(this.peer, object), MARK_IN] as [string, Uint8Array])
      if (marks.length > 0) await this.options.store.updateSyncState(marks)
    }
    return page
      .filter(({ facet }) => {
        const parsed = parseFacetId(facet)
        if (parsed === undefined || !this.scope.allows(type, parsed.facet)) return false
        return (filter === undefined && !ownerRule) || admitted.get(parsed.object) === true
      })
      .map(({ facet, bytes }) => [facet, bytes])
  }

  private async sendFeedRange(after: number, upTo: number): Promise<void> {
    for (let seq = after; seq < upTo && !this.closed;) {
      const entries = (await this.options.store.readFeed(seq, FEED_PAGE)).filter(
        (entry) => entry.seq <= upTo,
      )
      if (entries.length === 0) break
      seq = entries[entries.length - 1]!.seq
      await this.sendFacets(this.inScope(entries), seq)
    }
  }

  private async sendFacets(entries: readonly FeedEntry[], upTo: number): Promise<void> {
    const { facets, left } = await this.selectObjects(entries)
    if (left.length > 0) await this.send({ t: 'left', objects: left })
    let items: [FacetId, Uint8Array][] = []
    let bytes = 0
    for (const facet of facets) {
      const stored = await this.options.store.getFacetBytes(facet)
      if (stored === undefined) continue
      items.push([facet, stored])
      bytes += stored.length
      if (bytes >= this.batchBytes) {
        await this.sendBatch(items, 0)
        items = []
        bytes = 0
      }
    }
    await this.sendBatch(items, upTo)
    this.sentUpTo = Math.max(this.sentUpTo, upTo)
  }

  private async sendBatch(
    items: [FacetId, Uint8Array][],
    upTo: number,
    resume?: string,
  ): Promise<void> {
    if (items.length === 0 && upTo === 0 && resume === undefined) return
    while (this.credits === 0 && !this.closed) {
      await new Promise<void>((resolve) => (this.wakeSender = resolve))
    }
    if (this.closed) return
    this.credits--
    this.unacknowledged.push(upTo)
    this.stats.batchesSent++
    this.stats.facetsSent += items.length
    await this.send({ t: 'batch', items, upTo, ...(resume === undefined ? {} : { resume }) })
  }

  /**
   * The peer applied `n` more of our batches (it credits one back after applying each):
   * what they covered of our feed is saved, for what may be forgotten once every peer has
   * it (the content of deleted files).
   */
  private async acknowledged(n: number): Promise<void> {
    if (!this.granted) {
      this.granted = true
      return
    }
    let upTo = this.ackedUpTo
    for (let i = 0; i < n && this.unacknowledged.length > 0; i++) {
      upTo = Math.max(upTo, this.unacknowledged.shift()!)
    }
    if (upTo <= this.ackedUpTo) return
    this.ackedUpTo = upTo
    await this.options.store.putSyncState(ackedKey(this.peer), encodeText(String(upTo)))
  }

  /**
   * The peer holds our feed up to `upTo` without being sent anything (its own changes,
   * echoed): acknowledged at once, or with the last batch still unacknowledged.
   */
  private peerHolds(upTo: number): void {
    const last = this.unacknowledged.length - 1
    if (last >= 0) {
      this.unacknowledged[last] = Math.max(this.unacknowledged[last]!, upTo)
      return
    }
    if (upTo <= this.ackedUpTo) return
    this.ackedUpTo = upTo
    this.options.store
      .putSyncState(ackedKey(this.peer), encodeText(String(upTo)))
      .catch((error: unknown) => {
        if (!this.closed)
          this.log.warn({ peer: this.peer, err: error }, 'acknowledgement not saved')
      })
  }

  private send(message: SyncMessage): Promise<void> {
    this.lastSentAt = Date.now()
    return this.options.channel.send(encodeMessage(message))
  }

  private startHeartbeat(): NodeJS.Timeout {
    const every = this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    this.lastReceivedAt = Date.now()
    const timer = setInterval(() => {
      if (this.closed) return
      const now = Date.now()
      if (now - this.lastReceivedAt > SILENT_HEARTBEATS * every) {
        this.fail(new Error(`nothing heard from ${this.peer} for ${now - this.lastReceivedAt} ms`))
      } else if (now - this.lastSentAt >= every) {
        this.send({ t: 'tick' }).catch((error: unknown) => this.fail(error))
      }
    }, every)
    timer.unref()
    return timer
  }

  private wake(): void {
    const wake = this.wakeSender
    this.wakeSender = undefined
    wake?.()
  }

  private fail(error: unknown): void {
    if (!this.closed) this.log.warn({ peer: this.peer, err: error }, 'sync session ended')
    this.closed = true
    this.wake()
    this.options.channel.abort(error instanceof Error ? error : new Error(String(error)))
  }

  private async readFirstSync(): Promise<{ token: string; done: number } | undefined> {
    const stored = await this.options.store.getSyncState(firstSyncKey(this.peer))
    if (stored === undefined) return undefined
    try {
      const saved = JSON.parse(new TextDecoder().decode(stored)) as {
        token?: unknown
        done?: unknown
      }
      if (typeof saved.token === 'string' && isCountValue(saved.done)) {
        return { token: saved.token, done: saved.done }
      }
    } catch {
      // fall through: an unreadable record only costs a first sync from the start
    }
    this.log.warn({ peer: this.peer }, 'unreadable first-sync resume record; starting over')
    return undefined
  }
}

const isCountValue = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

function encodeText(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

/** A short digest of a scope's key: resume tokens must stay small however long the scope. */
function scopeDigest(scope: PeerScope): string {
  return createHash('sha256').update(scope.key).digest('base64url').slice(0, 22)
}

/** The scope a peer was last sent everything under (its canonical key). */
export function scopeKey(peer: InstanceId): string {
  return `scope/${peer}`
}

/** Whether the peer holds an object of a filtered type from us: in scope, or left it. */
export function sharedKey(peer: InstanceId, object: ObjectId): string {
  return `shared/${peer}/${object}`
}

/** How many objects one `left` message names at most. */
const LEFT_PAGE = 1000
const MARK_IN = Uint8Array.of(1)
const MARK_LEFT = Uint8Array.of(0)

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i])
}

async function readCursor(store: ObjectStore, peer: InstanceId): Promise<number> {
  const stored = await store.getSyncState(cursorKey(peer))
  const value = stored === undefined ? 0 : Number(new TextDecoder().decode(stored))
  return Number.isSafeInteger(value) && value >= 0 ? value : 0
}

function facetNameOf(facet: FacetId): FacetName {
  return facet.slice(facet.indexOf('/') + 1) as FacetName
}

function unique(facets: FacetId[]): FacetId[] {
  return [...new Set(facets)]
}
