// The object store: every object is one or more facets, each facet one Automerge
// document, persisted through a StorageAdapter (LevelDB in the daemon). Every applied
// change — local or remote — appends to the feed in the same atomic batch as the
// document write. Documents load on demand into a bounded LRU cache (opening reads one key).
// ObjectStore is the front the rest of the code uses. Behind it, sharing one StoreCore
// (storage, cache, locks, commit queue, events): LocalEdits, ObjectReads, RemoteApply and
// RemoteDocuments (changes from peers), FacetScan (stored bytes), ConflictInbox, StoreFeed
// (feed, sync state), MergeEdits and MergeList, ObjectHistory and search.
import type { ObjectSyncError } from '../../errors.ts'
import type {
  FacetId,
  FacetName,
  FieldValue,
  InstanceId,
  ObjectId,
  ObjectType,
} from '../../model/index.ts'
import type { Listener } from '../../typed-events.ts'
import type { BlobStore } from '../blob-store.ts'
import { ConflictInbox } from './conflict-inbox.ts'
import { StoreCore } from './core.ts'
import { FacetScan, type ScanOptions } from './facet-scan.ts'
import { StoreFeed } from './feed.ts'
import { LocalEdits, type SyncStateAlongside } from './local-edits.ts'
import { ObjectHistory, type HistoryPage } from './history.ts'
import { MergeList } from './merge-list.ts'
import { searchStored, type SearchOptions } from './search.ts'
import { MergeEdits } from './merges.ts'
import { ObjectReads } from './reads.ts'
import { RemoteApply } from './remote-apply.ts'
import { FeedFollower } from './feed-follower.ts'
import { RemoteDocuments } from './remote-documents.ts'
import type { QuickReadResult as PrereadDocument } from './quick-read.ts'
import type {
  Accepts,
  AdmitsReference,
  AppliedChanges,
  ConflictEntry,
  EditOptions,
  FacetPage,
  FeedEntry,
  ListOptions,
  MergeRecord,
  NewObject,
  ObjectPage,
  ObjectStoreEvents,
  ObjectStoreOptions,
  StoredObject,
} from './types.ts'

export type * from './types.ts'
export type { QuickReadResult as PrereadDocument } from './quick-read.ts'
export type { FieldChange, HistoryChange, HistoryEntry, HistoryPage } from './history.ts'
export { MAX_HISTORY_LIMIT } from './history.ts'
export { MAX_QUERY_LENGTH, MAX_SEARCH_LIMIT, type SearchOptions } from './search.ts'

export class ObjectStore {
  /** File contents, in the same storage: open and closed with the store. */
  readonly blobs: BlobStore
  private readonly core: StoreCore
  private readonly edits: LocalEdits
  private readonly reads: ObjectReads
  private readonly remote: RemoteApply
  private readonly remoteDocuments: RemoteDocuments
  private readonly scan: FacetScan
  private readonly inbox: ConflictInbox
  private readonly feed: StoreFeed
  private follower: FeedFollower | undefined
  private readonly merges: MergeEdits
  private readonly mergeList: MergeList
  private readonly histories: ObjectHistory

  constructor(options: ObjectStoreOptions) {
    this.core = new StoreCore(options)
    this.blobs = this.core.blobs
    this.edits = new LocalEdits(this.core)
    this.reads = new ObjectReads(this.core)
    this.remote = new RemoteApply(this.core)
    this.remoteDocuments = new RemoteDocuments(this.core, this.remote)
    this.scan = new FacetScan(this.core)
    this.inbox = new ConflictInbox(this.core, this.edits)
    this.merges = new MergeEdits(this.core)
    this.mergeList = new MergeList(this.core)
    this.histories = new ObjectHistory(this.core)
    this.feed = new StoreFeed(this.core)
  }

  // ── lifecycle ────────────────────────────────────────────────────────────────────

  open(): Promise<void> {
    return this.core.open()
  }

  /** Finishes in-flight writes, folds appended changes into snapshots, and closes. */
  close(): Promise<void> {
    return this.core.close()
  }

  get lastSeq(): number {
    return this.core.openCommits().lastSeq
  }

  /** How many objects are loaded in memory now; bounded by `cacheSize` between operations. */
  get loadedObjects(): number {
    return this.core.cache.size
  }

  // ── local edits and reads ────────────────────────────────────────────────────────

  create(input: NewObject, options: EditOptions = {}): Promise<StoredObject> {
    return this.edits.create(input, options)
  }

  /** Many objects in one commit (once `after` has settled): each made, or why it was not. */
  createMany(
    items: readonly { input: NewObject; options: EditOptions }[],
    alongside?: SyncStateAlongside,
    after?: Promise<unknown>,
  ): Promise<(StoredObject | ObjectSyncError)[]> {
    return this.edits.createMany(items, alongside, after)
  }

  /**
   * The reader right behind the receiver, such as the local system's projection: a first
   * sync's new objects are kept as received for its next read (each dropped when read or
   * changed), and a peer's documents wait to be applied while it reads and is more than
   * `ahead` feed entries behind (feed-follower.ts). Off until called; one per store.
   */
  follow(ahead?: number): FeedFollower {
    if (this.follower !== undefined && ahead !== undefined && ahead !== this.follower.ahead) {
      throw new TypeError(
        `the store is followed already, ${this.follower.ahead} entries ahead (one follower per store)`,
      )
    }
    this.follower ??= new FeedFollower(() => this.lastSeq, ahead)
    // Room for what the follower may be behind, and the batches in flight beside it.
    this.core.received.keep(2 * this.follower.ahead)
    return this.follower
  }

  get(id: ObjectId): Promise<StoredObject | undefined> {
    return this.reads.get(id)
  }

  /** Changes some fields; `null` clears one. Returns the object as it now is. */
  update(
    id: ObjectId,
    patch: { fields?: Record<string, FieldValue | null>; custom?: Record<string, unknown> },
    options: EditOptions = {},
  ): Promise<StoredObject> {
    return this.edits.update(id, patch, options)
  }

  /** Tombstones the object: it stays, marked deleted, so the delete can sync. */
  delete(id: ObjectId, options: EditOptions = {}): Promise<void> {
    return this.edits.delete(id, options)
  }

  /**
   * Appends a feed entry for the object's core without changing it: what reads the feed
   * looks at the object again. A change outside the object that alters who may see it
   * (the local system's group membership) goes through the feed this way, so a peer that
   * is offline meanwhile still hears of it when it resumes from its cursor.
   */
  touch(
    id: ObjectId,
    /** The peer the reason came from: its sessions need not send the object back. */
    from?: InstanceId,
  ): Promise<void> {
    return this.edits.touch(id, from)
  }

  // ── identity ─────────────────────────────────────────────────────────────────────

  /**
   * Makes two objects one, on every instance once synced: the smaller id of the two
   * groups stands for them (`mergedInto` on the other). Returns the survivor.
   */
  merge(a: ObjectId, b: ObjectId): Promise<ObjectId> {
    return this.merges.merge(a, b)
  }

  /** Undoes the merge `id` records: it stands alone again. Returns its former survivor. */
  unmerge(id: ObjectId): Promise<ObjectId> {
    return this.merges.unmerge(id)
  }

  /** The object that stands for `id` now (itself unless merged into another). */
  survivorOf(id: ObjectId): ObjectId {
    return this.core.identities.survivorOf(id)
  }

  /** Every object that is one with `id`: its survivor first, then those merged into it. */
  groupOf(id: ObjectId): ObjectId[] {
    const survivor = this.core.identities.survivorOf(id)
    return [survivor, ...this.core.identities.mergedInto(survivor)]
  }

  /**
   * The merges the store holds, decided here or by a peer, the last decided first: at most
   * `limit`. An unmerged object is no longer one of them.
   */
  listMerges(limit = 50): Promise<MergeRecord[]> {
    return this.mergeList.list(limit)
  }

  /**
   * The object's history from its documents (history.ts): a page of entries, oldest first,
   * ending just before the `before` cursor (the latest without one). OBJECT_NOT_FOUND for
   * an object not stored, INVALID_CURSOR for a bad limit or cursor.
   */
  history(id: ObjectId, options: { limit?: number; before?: string } = {}): Promise<HistoryPage> {
    return this.histories.page(id, options)
  }

  /** Pages of history read since the store was made (for /metrics). */
  get historyReads(): number {
    return this.histories.pagesRead
  }

  /**
   * Records whose name or email holds every word of `query` (search.ts), in id order, a
   * page at a time; neither deleted nor merged into another.
   */
  search(
    query: string,
    options: SearchOptions = {},
  ): Promise<{ items: StoredObject[]; next: ObjectId | undefined }> {
    return searchStored(this.scan, this.reads, query, options)
  }

  /** The group a custom field is kept in (config customFieldGroups; `other` if in none). */
  customGroupOf(name: string): string {
    return this.core.facetOfCustomField(name).slice('custom:'.length)
  }

  /** How many objects of the type the store holds (deleted ones included), from its index. */
  count(type: ObjectType): Promise<number> {
    return this.reads.count(type)
  }

  list(type: ObjectType, options: ListOptions = {}): Promise<ObjectPage> {
    return this.reads.list(type, options)
  }

  // ── remote changes ───────────────────────────────────────────────────────────────

  /**
   * Applies changes received for one facet. Changes already present are ignored, so
   * duplicate delivery applies nothing twice. Throws INVALID_CHANGES, storing nothing,
   * when the bytes don't parse or the resulting document is not a valid facet.
   */
  applyRemoteChanges(
    facet: FacetId,
    changes: readonly Uint8Array[],
    /** The peer they came from, kept in the feed (absent: this instance). */
    from?: InstanceId,
  ): Promise<AppliedChanges> {
    return this.remote.applyChanges(facet, changes, from)
  }

  /**
   * Merges a peer's whole stored facet (as `getFacetBytes` returns it): the bulk path of a
   * first sync. A facet new here is stored as received, once it has loaded and passed
   * the same checks as remote changes; one that exists gets only what it lacked.
   */
  applyRemoteDocument(
    facet: FacetId,
    bytes: Uint8Array,
    from?: InstanceId,
  ): Promise<AppliedChanges> {
    return this.remote.applyDocument(facet, bytes, from)
  }

  /**
   * Applies many whole facets from a peer, as applyRemoteDocument does one by one, but
   * fast for the common case of a first sync: a facet still in the form it was created
   * in, of an object not here yet, is checked by decoding its one change (no document
   * load), and whether its object exists is read for the whole batch in one getMany.
   * Returns, per item, what changed or why it was refused (INVALID_CHANGES).
   */
  async applyRemoteDocuments(
    items: readonly (readonly [FacetId, Uint8Array])[],
    /** Which facets the sender may give us (its scope); others are refused. */
    accepts?: Accepts,
    /** The peer they came from, kept in the feed (absent: this instance). */
    from?: InstanceId,
    /** Which objects the sender may make objects name (its scope); others are refused. */
    admitsReference?: AdmitsReference,
    /** The items' reads from prereadDocuments, in the same order. */
    reads?: readonly PrereadDocument[],
  ): Promise<(AppliedChanges | ObjectSyncError)[]> {
    await this.follower?.room()
    return this.remoteDocuments.applyDocuments(items, accepts, from, admitsReference, reads)
  }

  /** Reads a batch for applyRemoteDocuments ahead, on a worker thread when it is large. */
  prereadDocuments(items: readonly (readonly [FacetId, Uint8Array])[]): Promise<PrereadDocument[]> {
    return this.core.worker.read(items)
  }

  // ── stored facets ────────────────────────────────────────────────────────────────

  /**
   * A facet's stored bytes — its snapshot and appended changes, concatenated — loadable
   * with Automerge.load, read without loading the document.
   */
  getFacetBytes(facet: FacetId): Promise<Uint8Array | undefined> {
    return this.scan.getFacetBytes(facet)
  }

  /**
   * Every stored facet in key order, a page at a time, read in one range scan without
   * loading documents: the bulk path of a first sync. Pass the returned `next` to go on.
   */
  scanFacets(options: ScanOptions = {}): Promise<FacetPage> {
    return this.scan.scanFacets(options)
  }

  /**
   * The stored facets of objects of one type, a page at a time in id order: the first
   * sync of a peer that is not shared every type. One range read per object.
   */
  scanFacetsOfType(
    type: ObjectType,
    options: { after?: string | undefined; maxBytes?: number } = {},
  ): Promise<FacetPage> {
    return this.scan.scanFacetsOfType(type, options)
  }

  getHeads(facet: FacetId): Promise<string[] | undefined> {
    return this.reads.getHeads(facet)
  }

  /** The changes of `facet` that are not ancestors of `heads` (all of them for `[]`). */
  getChangesSince(facet: FacetId, heads: readonly string[]): Promise<Uint8Array[] | undefined> {
    return this.reads.getChangesSince(facet, heads)
  }

  /** The names of the facets an object has, or [] when it does not exist. */
  facetsOf(id: ObjectId): Promise<FacetName[]> {
    return this.reads.facetsOf(id)
  }

  // ── sync state ───────────────────────────────────────────────────────────────────

  /** Small values the sync engine keeps per peer (cursors), stored with the documents. */
  getSyncState(key: string): Promise<Uint8Array | undefined> {
    return this.feed.getSyncState(key)
  }

  putSyncState(key: string, value: Uint8Array): Promise<void> {
    return this.feed.updateSyncState([[key, value]])
  }

  /** Every sync-state entry whose key starts with `prefix`, in key order. */
  scanSyncState(prefix: string): AsyncIterable<[string, Uint8Array]> {
    return this.feed.scanSyncState(prefix)
  }

  /** Puts, or with `undefined` deletes, several sync-state entries in one write. */
  updateSyncState(entries: readonly (readonly [string, Uint8Array | undefined])[]): Promise<void> {
    return this.feed.updateSyncState(entries)
  }

  // ── the conflict inbox ───────────────────────────────────────────────────────────

  /** Fields written concurrently on two instances, with the value shown and those that lost. */
  listConflicts(): Promise<ConflictEntry[]> {
    return this.inbox.listConflicts()
  }

  /**
   * Settles a conflict by writing the chosen value — the one shown or one that lost,
   * named by who wrote it and when — as a new edit here, which every instance then sees
   * as later than all the concurrent ones.
   */
  resolveConflict(
    id: ObjectId,
    field: string,
    choice: { by: string; at: number },
  ): Promise<StoredObject> {
    return this.inbox.resolveConflict(id, field, choice)
  }

  // ── the feed and events ──────────────────────────────────────────────────────────

  /** Feed entries with seq > `after`, oldest first. */
  readFeed(after: number, limit = 1000): Promise<FeedEntry[]> {
    return this.feed.readFeed(after, limit)
  }

  /** Subscribes to the store's events (ObjectStoreEvents); returns unsubscribe. */
  on<Name extends keyof ObjectStoreEvents & string>(
    name: Name,
    listener: Listener<ObjectStoreEvents[Name]>,
  ): () => void {
    return this.core.events.on(name, listener)
  }
}
