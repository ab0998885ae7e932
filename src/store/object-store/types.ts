// The public shapes of the object store: its options, what it returns, and its events.
// Callers import them from src/store/index.ts.
import type { EventMap } from '../../typed-events.ts'
import type { Logger } from '../../log.ts'
import type {
  CustomFields,
  FacetId,
  FacetName,
  Fields,
  InstanceId,
  ObjectId,
  ObjectType,
} from '../../model/index.ts'
import type { BlobStoreOptions } from '../blob-store.ts'
import type { FeedEntry } from '../commit-queue.ts'
import type { ConflictValue } from '../conflicts.ts'
import type { StorageAdapter } from '../storage.ts'
import type { IdentityKey } from '../authorship.ts'

export type { FeedEntry }

export interface ObjectStoreOptions {
  storage: StorageAdapter
  /** Recorded as the writer of every local change. */
  instanceId: InstanceId
  /**
   * The Ed25519 key behind `instanceId` (a libp2p private key): every local change then
   * carries a proof that this instance wrote it (store/authorship.ts), which is what
   * makes its writes count as a source of truth's on other instances. Without it changes
   * are unsigned (tests with made-up ids).
   */
  identityKey?: IdentityKey
  logger?: Logger
  /** Custom-field group → the custom field names in it; other names go to group `other`. */
  customFieldGroups?: Record<string, readonly string[]>
  /** Objects kept loaded. Each costs a few KiB of wasm memory. */
  cacheSize?: number
  /** An object not read or written for this long is unloaded (compacted and freed); 0: never. */
  unloadIdleMs?: number
  /** Appended changes per facet before they are folded into a new snapshot. */
  compactAfterChanges?: number
  /** Quiet time after the last write before cached facets with changes are compacted. */
  idleCompactionMs?: number
  /** fsync every batch: acknowledged writes then survive power loss, not only kill -9. */
  syncWrites?: boolean
  /** Wall clock for write stamps; injectable for tests. */
  clock?: () => number
  /**
   * Fields whose conflicts a named instance always wins, as `type.field` (custom fields
   * as `type.custom.name`) → instance id, e.g. `transaction.amount` → the finance office.
   * Other fields: the later edit wins.
   */
  sourcesOfTruth?: Readonly<Record<string, InstanceId>>
  /** File contents: the size limit (default 50 MiB) and chunk size. */
  blobs?: BlobStoreOptions
  /**
   * Read large batches from peers on a worker thread (object-store/store-worker.ts) while
   * the batch before is applied; default true.
   */
  readWorker?: boolean
}

export interface WrittenBy {
  by: InstanceId
  at: number
}

export interface StoredObject {
  id: ObjectId
  type: ObjectType
  fields: Fields
  custom: CustomFields
  deleted: boolean
  /** ISO time of the latest write stamp on any field. */
  updatedAt: string
  /** Per field (custom fields as `custom.<name>`), who wrote it last and when. */
  written: Record<string, WrittenBy>
  /** Fields written concurrently on two instances: the later write shows, the rest wait in the inbox. */
  conflicts: string[]
  /**
   * This object was merged: the object that stands for it now (its fields are its own,
   * as they were when merged). Absent on objects not merged into another.
   */
  mergedInto?: ObjectId
  /** The objects merged into this one, in id order; their fields fill the ones it lacks. */
  merged?: ObjectId[]
  /** Unmerged from this object: matching does not make the two one again. */
  keptApartFrom?: ObjectId
  /**
   * The instance that made the object, as its oldest write stamp in the core facet says
   * (its own, not a merged object's). Matching keeps apart what one instance made apart.
   */
  createdBy?: InstanceId
}

/** A merge the store holds: `object` was merged, and `into` stands for it now. */
export interface MergeRecord {
  object: ObjectId
  type: ObjectType
  /** The object that stands for it now: its survivor, as `mergedInto` when it is read. */
  into: ObjectId
  /**
   * Who decided the merge, and when (the `mergedBy` of its core facet, here or on a peer).
   * Absent only when a peer's document records a merge without saying who decided it.
   */
  decided?: WrittenBy
}

/** An entry of the conflict inbox: one field, the value shown, and the values that lost. */
export interface ConflictEntry {
  object: ObjectId
  type: ObjectType
  /** As in `written`: `firstName`, or `custom.<name>`. */
  field: string
  winner: ConflictValue
  losers: ConflictValue[]
}

export interface NewObject {
  type: ObjectType
  fields: Fields
  custom?: CustomFields
}

export interface ListOptions {
  /** The `next` of the previous page. */
  after?: string
  limit?: number
  includeDeleted?: boolean
  /** Objects merged into another are left out unless asked for. */
  includeMerged?: boolean
}

export interface ObjectPage {
  items: StoredObject[]
  /** Pass as `after` for the next page; absent on the last page. */
  next: string | undefined
  /** Objects of this page whose stored documents could not be loaded (logged too). */
  corrupt: ObjectId[]
}

export interface AppliedChanges {
  facet: FacetId
  object: ObjectId
  type: ObjectType
  /** False when every change was already present (duplicate delivery). */
  changed: boolean
  /** Top-level fields whose value changed; `deleted` when the tombstone changed. */
  fields: string[]
  heads: string[]
  /** Hashes of changes that are needed before some received changes can apply. */
  missingDeps: string[]
  /**
   * The facet is now exactly what was received — new here, or a line here that the bytes
   * received continue — and a feed entry was written for it (nothing to send back).
   */
  storedAsReceived: boolean
  /**
   * Stored as received by appending to the line of changes held here: an object the peer
   * had from us, whose share it may have moved.
   */
  continuedLine?: true
}

/** Options of a local edit. */
export interface EditOptions {
  /**
   * The edit was taken in from this instance's local system: its feed entries name this
   * instance as `from`, so the projector knows the local system says so already.
   */
  fromLocalSystem?: boolean
  /**
   * When the edit was made (ms since the epoch), where the local system knows it (its
   * change log): an edit made while the daemon was stopped keeps its own time for
   * later-wins, not the time it was taken in. Never later than now. Default: now.
   */
  at?: number
}

/** Decides whether a facet of an object of a type may come from the sending peer. */
export type Accepts = (type: ObjectType, facet: FacetName) => boolean

/**
 * Why an object from the sending peer may not name `target` in `field` (personId,
 * organizationId, ownerId), or undefined when it may. Asked for each reference a peer's
 * documents set or change, on the merged result.
 */
export type AdmitsReference = (
  type: ObjectType,
  field: string,
  target: ObjectId,
) => Promise<string | undefined>

/** A page of stored facets, as the bulk path of a first sync reads them. */
export interface FacetPage {
  facets: { facet: FacetId; bytes: Uint8Array }[]
  /** Pass as `after` to go on; absent on the last page. */
  next: string | undefined
}

export interface ObjectStoreEvents extends EventMap {
  /** Every batch of committed feed entries, in feed order. */
  feed: [entries: readonly FeedEntry[]]
  /** An object's place in the conflict inbox changed (a merge left a conflict, or one was settled). */
  conflict: [object: ObjectId]
  /** An object was merged into another or unmerged, here or by a peer (its document arrived). */
  merge: [object: ObjectId]
}
