// What every part of the object store shares: the storage, the loaded documents (a
// bounded LRU cache, one lock per object), the commit queue that writes each change with
// its feed entry in one batch, compaction of appended changes, and the store's events.
// The collaborators of ObjectStore each receive this core through their constructor.
import * as A from '@automerge/automerge'
import { randomBytes } from 'node:crypto'
import { ObjectSyncError } from '../../errors.ts'
import { StoreWorker } from './store-worker.ts'
import { silentLogger, type Logger } from '../../log.ts'
import {
  CORE_FACET,
  customFacet,
  facetId,
  isObjectId,
  type FacetName,
  type InstanceId,
  type ObjectId,
} from '../../model/index.ts'
import { TypedEvents } from '../../typed-events.ts'
import { BlobStore } from '../blob-store.ts'
import { CommitQueue, type FeedDraft, type FeedEntry } from '../commit-queue.ts'
import type { Doc, WriteStamp } from '../facet-doc.ts'
import { FEED_PREFIX, chunkKey, feedSeq, prefixEnd, snapshotKey } from '../keys.ts'
import { KeyedMutex } from '../keyed-mutex.ts'
import type { LruCache } from '../lru-cache.ts'
import type { StorageAdapter, StorageOp } from '../storage.ts'
import { concatBytes } from './facet-parts.ts'
import { Identities } from './identities.ts'
import { ObjectCache } from './object-cache.ts'
import { RecentParts } from './recent-parts.ts'
import { LocalSigning } from './signing.ts'
import { ReceivedObjects } from './received-objects.ts'
import {
  freeObject,
  pushCompaction,
  loadParts,
  readParts,
  type LoadedFacet,
  type StoredParts,
  type LoadedObject,
} from './loaded-object.ts'
import type { EditOptions, ObjectStoreEvents, ObjectStoreOptions } from './types.ts'
import { openLayout } from './layout.ts'

// 32 chunks of ~130 B stay well below one snapshot's load cost.
const DEFAULT_COMPACT_AFTER = 32
const OTHER_GROUP = 'other'

/** How commitChanges writes: what a remote apply adds to a local edit's commit. */
export interface CommitOptions {
  /** The changes received per facet, appended as they are instead of the last local change. */
  appended?: Map<FacetName, Uint8Array[]>
  /** Written in the same batch (conflict inbox marks). */
  extraOps?: StorageOp[]
  /** The peer the changes came from, kept in the feed. */
  from?: InstanceId | undefined
}

export class StoreCore {
  readonly storage: StorageAdapter
  readonly log: Logger
  readonly instanceId: InstanceId
  readonly sourcesOfTruth: Readonly<Record<string, InstanceId>> | undefined
  /** Signs every local change (store/authorship.ts). */
  readonly signing: LocalSigning
  /** File contents, in the same storage: open and closed with the store. */
  readonly blobs: BlobStore
  readonly locks = new KeyedMutex<ObjectId>()
  /** The loaded objects and their upkeep (object-cache.ts). */
  readonly objects: ObjectCache
  readonly cache: LruCache<ObjectId, LoadedObject>
  readonly received = new ReceivedObjects()
  readonly recentParts = new RecentParts()
  /** Quick reads of peers' batches, on a worker thread when they are large. */
  readonly worker: StoreWorker
  readonly events: TypedEvents<ObjectStoreEvents>
  /** Which objects are one (merges), from the `g/` index; each change is a `merge` event. */
  readonly identities = new Identities((object) => this.events.emit('merge', object))
  /** This session's Automerge actor, fresh at each open: a change lost in a crash can never
   * be followed by another change of the same actor and sequence number. */
  readonly actor = randomBytes(16).toString('hex')
  private readonly clock: () => number
  readonly compactAfter: number // chunks appended to a facet before it is compacted
  private readonly syncWrites: boolean
  private readonly groupOfCustomField = new Map<string, string>()
  /** Built once: loading an object is on the hot path of a first sync. */
  private readonly loadContext: { actor: string; log: Logger }
  private commits: CommitQueue | undefined
  /** Announcements queued by code that holds an object's lock (see announceLater). */
  private announcements: Promise<void> = Promise.resolve()

  constructor(options: ObjectStoreOptions) {
    this.storage = options.storage
    this.instanceId = options.instanceId
    this.sourcesOfTruth = options.sourcesOfTruth
    this.signing = new LocalSigning(options.identityKey, this.actor)
    this.log = (options.logger ?? silentLogger).child('store')
    this.blobs = new BlobStore(options.storage, { logger: this.log, ...options.blobs })
    this.events = new TypedEvents(this.log)
    this.clock = options.clock ?? Date.now
    this.compactAfter = options.compactAfterChanges ?? DEFAULT_COMPACT_AFTER
    this.syncWrites = options.syncWrites ?? false
    this.loadContext = { actor: this.actor, log: this.log }
    this.worker = new StoreWorker(this.log, options.readWorker ?? true)
    for (const [group, names] of Object.entries(options.customFieldGroups ?? {})) {
      customFacet(group) // throws a TypeError on a bad group name
      for (const name of names) this.groupOfCustomField.set(name, group)
    }
    this.objects = new ObjectCache(
      { locks: this.locks, log: this.log, commits: () => this.commits },
      options,
    )
    this.cache = this.objects.lru
  }

  async open(): Promise<void> {
    await this.storage.open()
    try {
      await openLayout(this.storage, this.log)
    } catch (error) {
      await this.storage.close()
      throw error
    }
    let lastSeq = 0
    for await (const [key] of this.storage.range({
      gte: FEED_PREFIX,
      lt: prefixEnd(FEED_PREFIX),
      reverse: true,
      limit: 1,
    })) {
      lastSeq = feedSeq(key)
    }
    await this.identities.load(this.storage)
    this.commits = new CommitQueue(this.storage, {
      sync: this.syncWrites,
      lastSeq,
      onCommitted: (entries) => this.committed(entries),
      onSubmit: (ops) => this.recentParts.written(ops),
    })
    this.objects.start()
    this.log.debug({ lastSeq }, 'store opened')
  }

  /** Finishes in-flight writes, folds appended changes into snapshots, and closes. */
  async close(): Promise<void> {
    const commits = this.commits
    if (commits === undefined) return
    this.objects.stop()
    await this.worker.close()
    await this.announcements
    await this.locks.drain()
    await this.objects.compactAll()
    await commits.flush()
    this.commits = undefined
    for (const loaded of this.cache.clear()) freeObject(loaded)
    this.received.clear()
    this.recentParts.clear()
    await this.storage.close()
  }

  /** The commit queue; throws STORE_CLOSED unless the store is open. */
  openCommits(): CommitQueue {
    if (this.commits === undefined) {
      throw new ObjectSyncError('STORE_CLOSED', 'the object store is not open')
    }
    return this.commits
  }

  /** This instance's write stamp: now, or `at` when the edit was made earlier. */
  stamp(at?: number): WriteStamp {
    const now = this.clock()
    return { by: this.instanceId, at: at === undefined ? now : Math.min(at, now) }
  }

  now = (): number => this.clock()

  fromOf(options: EditOptions): { from?: InstanceId } {
    return options.fromLocalSystem === true ? { from: this.instanceId } : {}
  }

  facetOfCustomField(name: string): FacetName {
    return customFacet(this.groupOfCustomField.get(name) ?? OTHER_GROUP)
  }

  conflictsChanged = (object: ObjectId): void => void this.events.emit('conflict', object)

  /**
   * The object, from the cache or loaded with one range read (or from `parts`, read
   * already). Call under the object's lock.
   */
  async load(id: ObjectId, parts?: StoredParts): Promise<LoadedObject | undefined> {
    const cached = this.cache.get(id)
    if (cached !== undefined) return cached
    const loaded = loadParts(id, parts ?? (await this.readParts(id)), this.loadContext)
    if (loaded !== undefined) this.cache.set(id, loaded)
    return loaded
  }

  /**
   * The object loaded from storage and not cached, for a read of its whole history that
   * must not push the working set out of the cache: free it with freeObject. Undefined
   * when nothing of it is stored. Call under its lock.
   */
  async loadDetached(id: ObjectId): Promise<LoadedObject | undefined> {
    return loadParts(id, await this.readParts(id), this.loadContext)
  }

  /** The object's stored parts (recent ones kept: see RecentParts). Call under its lock. */
  async readParts(id: ObjectId): Promise<StoredParts> {
    const recent = this.recentParts.get(id)
    if (recent !== undefined) return recent
    const parts = await readParts(this.storage, id)
    this.recentParts.set(id, parts)
    return parts
  }

  /** As load, but throws OBJECT_NOT_FOUND, or OBJECT_DELETED unless `allowDeleted`. */
  async loadExisting(
    id: ObjectId,
    options: { allowDeleted?: boolean } = {},
    parts?: StoredParts,
  ): Promise<LoadedObject> {
    const loaded = isObjectId(id) ? await this.load(id, parts) : undefined
    if (loaded === undefined) {
      throw new ObjectSyncError('OBJECT_NOT_FOUND', `no object has the id ${id}`, {
        details: { id },
      })
    }
    if (!options.allowDeleted && loaded.facets.get(CORE_FACET)?.doc.deleted === true) {
      throw new ObjectSyncError('OBJECT_DELETED', `object ${id} is deleted`, { details: { id } })
    }
    return loaded
  }

  /**
   * Persists new versions of some facets of `loaded` in one batch, then swaps them into
   * the cache. On failure the object is dropped from the cache, so the next read reloads
   * what is on disk.
   */
  async commitChanges(
    commits: CommitQueue,
    id: ObjectId,
    loaded: LoadedObject,
    changed: Map<FacetName, Doc>,
    options: CommitOptions = {},
  ): Promise<void> {
    if (changed.size === 0) return
    const ops: StorageOp[] = [...(options.extraOps ?? [])]
    const feed: FeedDraft[] = []
    const states = new Map<FacetName, LoadedFacet>()
    // Unsigned versions replaced by signed ones, freed once the signed ones are in `loaded`:
    // one made in place (not through signing.edit) shares its handle with the version still
    // there, which readers may hold meanwhile.
    const replaced: Doc[] = []
    try {
      // Signing may fail too: what was changed in memory is then dropped with the rest.
      for (const [facet, edited] of changed) {
        const previous = loaded.facets.get(facet)
        // A change made here (not one received: `appended`) is signed.
        const local =
          previous === undefined || options.appended !== undefined
            ? undefined
            : await this.signing.lastChange(facetId(id, facet), previous.doc, edited)
        const doc = local?.doc ?? edited
        if (doc !== edited) replaced.push(edited)
        changed.set(facet, doc)
        const chunks = previous?.chunks ?? 0
        const nextChunk = previous?.nextChunk ?? 1
        if (previous === undefined && options.appended === undefined) {
          ops.push({ type: 'put', key: snapshotKey(id, facet), value: A.save(doc) })
          states.set(facet, { doc, chunks: 0, nextChunk: 1 })
        } else if (
          chunks + 1 >= this.compactAfter &&
          pushCompaction(ops, id, facet, doc, { chunks, nextChunk })
        ) {
          states.set(facet, { doc, chunks: 0, nextChunk })
        } else {
          const bytes = options.appended?.get(facet) ?? [
            local?.change ?? A.getLastLocalChange(doc)!,
          ]
          ops.push({ type: 'put', key: chunkKey(id, facet, nextChunk), value: concatBytes(bytes) })
          states.set(facet, { doc, chunks: chunks + 1, nextChunk: nextChunk + 1 })
        }
        feed.push({
          facet: facetId(id, facet),
          object: id,
          type: loaded.type,
          ...(options.from === undefined ? {} : { from: options.from }),
        })
      }
      await commits.submit(ops, feed)
    } catch (error) {
      // Each new handle shares memory with the one it was changed from: free it alone.
      for (const [facet, doc] of changed) {
        A.free(doc)
        loaded.facets.delete(facet)
      }
      for (const doc of replaced) A.free(doc)
      this.dropFromCache(id)
      freeObject(loaded)
      throw error
    }
    for (const [facet, state] of states) loaded.facets.set(facet, state)
    for (const doc of replaced) A.free(doc)
    if (this.cache.get(id) === undefined) this.cache.set(id, loaded)
  }

  /**
   * Feed entries that make what follows the feed read these objects again, unchanged:
   * a merge or unmerge changed how they read (fields their group fills in), or with
   * `touch` who may see them changed (ObjectStore.touch; the projector skips touches).
   * A peer sent one gets the facet again and keeps it as it is.
   */
  async announce(
    ids: Iterable<ObjectId>,
    from: InstanceId | undefined,
    options: { touch?: boolean } = {},
  ): Promise<void> {
    const commits = this.openCommits()
    for (const id of new Set(ids)) {
      await this.locks.run(id, async () => {
        const loaded = await this.load(id)
        if (loaded === undefined) return
        const entry: FeedDraft = { facet: facetId(id, CORE_FACET), object: id, type: loaded.type }
        if (options.touch === true) entry.touch = true
        if (from !== undefined) entry.from = from
        await commits.submit([], [entry])
      })
    }
  }

  /**
   * As announce, for a caller that holds an object's lock: run once the caller has let go
   * of it, so that two objects announcing each other can't wait on each other's locks.
   */
  announceLater(ids: ObjectId[], from: InstanceId | undefined): void {
    if (ids.length === 0) return
    this.announcements = this.announcements
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => (this.commits === undefined ? undefined : this.announce(ids, from)))
      .catch((error: unknown) => this.log.warn({ err: error, ids }, 'could not announce a merge'))
  }

  /** Drops the object from the cache and frees its documents. */
  dropFromCache(id: ObjectId): void {
    const cached = this.cache.take(id)
    if (cached !== undefined) freeObject(cached)
  }

  private committed(entries: readonly FeedEntry[]): void {
    this.received.changed(entries)
    this.objects.wrote()
    this.events.emit('feed', entries)
  }
}
