// The object store: every object is one or more facets, each facet one Automerge
// document, persisted through a StorageAdapter (LevelDB in the daemon). Every applied
// change — local or remote — appends to the feed in the same atomic batch as the
// document write. Documents are loaded on demand into a bounded LRU cache; opening a
// store reads one key, whatever its size.
import { TypedEvents, type EventMap, type Listener } from '../typed-events.ts'
import * as A from '@automerge/automerge'
import { randomBytes } from 'node:crypto'
import { ObjectSyncError, isObjectSyncError } from '../errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import {
  CORE_FACET,
  OBJECT_TYPES,
  customFacet,
  facetId,
  isObjectId,
  isObjectType,
  newObjectId,
  parseFacetId,
  validateNewObject,
  validatePatch,
  type CustomFields,
  type FacetId,
  type FacetName,
  type FieldValue,
  type Fields,
  type InstanceId,
  type ObjectId,
  type ObjectType,
} from '../model/index.ts'
import { CommitQueue, type FeedDraft, type FeedEntry } from './commit-queue.ts'
import {
  changeFacetDoc,
  createFacetDoc,
  encodeNewFacet,
  readFacetDoc,
  tombstoneFacetDoc,
  readEncodedFacet,
  restoreFacetDoc,
  type Doc,
  type EncodedFacet,
  type FacetContent,
  type WriteStamp,
} from './facet-doc.ts'
import {
  FORMAT_KEY,
  FORMAT_VERSION,
  chunkKey,
  feedKey,
  feedSeq,
  objectPrefix,
  parseDocKey,
  prefixEnd,
  snapshotKey,
  typeIndexKey,
  typeIndexPrefix,
  FEED_PREFIX,
  DOC_PREFIX,
  SYNC_STATE_PREFIX,
  CONFLICT_PREFIX,
  conflictKey,
  deleteConflictKey,
} from './keys.ts'
import { KeyedMutex } from './keyed-mutex.ts'
import { BlobStore, type BlobStoreOptions } from './blob-store.ts'
import { LruCache } from './lru-cache.ts'
import { checkFields, checkRemoteFacet } from './remote-check.ts'
import {
  deleteConflict,
  deleteMeetsEdit,
  resolveFacet,
  type ConflictValue,
  type SourceOfTruth,
} from './conflicts.ts'
import type { StorageAdapter, StorageOp } from './storage.ts'

export type { FeedEntry }

export interface ObjectStoreOptions {
  storage: StorageAdapter
  /** Recorded as the writer of every local change. */
  instanceId: InstanceId
  logger?: Logger
  /** Custom-field group → the custom field names in it; other names go to group `other`. */
  customFieldGroups?: Record<string, readonly string[]>
  /** Objects kept loaded. Each costs a few KiB of wasm memory. */
  cacheSize?: number
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
  /** The facet was new here and is now exactly what was received (nothing to send back). */
  storedAsReceived: boolean
}

interface LoadedFacet {
  doc: Doc
  /** Change chunks stored after the snapshot. */
  chunks: number
  nextChunk: number
}

interface LoadedObject {
  type: ObjectType
  facets: Map<FacetName, LoadedFacet>
}

// Defaults chosen from measurements on the 2-core machines. Live Automerge documents slow
// the garbage collector (DESIGN.md: ≈15× slower creates with thousands left unfreed), but
// an LRU smaller than the working set misses on every access: three daemons editing 600
// objects replicated ≈ 1,900 edits/s with 500 cached and ≈ 2,300 with 2,000, and updates
// over 5,000 objects were no slower with 2,000. 32 chunks of ~130 B stay well below one
// snapshot's load cost.
const DEFAULT_CACHE_SIZE = 2000
const DEFAULT_COMPACT_AFTER = 32
const DEFAULT_IDLE_COMPACTION_MS = 2_000
const DEFAULT_LIST_LIMIT = 100
const MAX_LIST_LIMIT = 1_000
const OTHER_GROUP = 'other'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const EMPTY = new Uint8Array(0)

/** Options of a local edit. */
export interface EditOptions {
  /**
   * The edit was taken in from this instance's local system: its feed entries name this
   * instance as `from`, so the projector knows the local system says so already.
   */
  fromLocalSystem?: boolean
}

export interface ObjectStoreEvents extends EventMap {
  /** Every batch of committed feed entries, in feed order. */
  feed: [entries: readonly FeedEntry[]]
  /** An object's place in the conflict inbox changed (a merge left a conflict, or one was settled). */
  conflict: [object: ObjectId]
}

export class ObjectStore {
  /** File contents, in the same storage: open and closed with the store. */
  readonly blobs: BlobStore
  private readonly storage: StorageAdapter
  private readonly log: Logger
  private readonly instanceId: InstanceId
  private readonly clock: () => number
  private readonly compactAfter: number
  private readonly idleCompactionMs: number
  private readonly groupOfCustomField = new Map<string, string>()
  private readonly locks = new KeyedMutex<ObjectId>()
  private readonly cache: LruCache<ObjectId, LoadedObject>
  private readonly events: TypedEvents<ObjectStoreEvents>
  /**
   * The Automerge actor of this store session. A fresh one each time the store opens, so
   * a change lost in a crash can never be followed by a different change of the same
   * actor and sequence number.
   */
  private readonly actor = randomBytes(16).toString('hex')
  private commits: CommitQueue | undefined
  /** Batches of remote documents that have looked up which objects exist. */
  private prefetches = 0
  private readonly createdDuringPrefetch = new Set<ObjectId>()
  private idleTimer: NodeJS.Timeout | undefined

  constructor(private readonly options: ObjectStoreOptions) {
    this.storage = options.storage
    this.instanceId = options.instanceId
    this.log = (options.logger ?? silentLogger).child('store')
    this.blobs = new BlobStore(options.storage, { logger: this.log, ...options.blobs })
    this.events = new TypedEvents(this.log)
    this.clock = options.clock ?? Date.now
    this.compactAfter = options.compactAfterChanges ?? DEFAULT_COMPACT_AFTER
    this.idleCompactionMs = options.idleCompactionMs ?? DEFAULT_IDLE_COMPACTION_MS
    for (const [group, names] of Object.entries(options.customFieldGroups ?? {})) {
      customFacet(group) // throws a TypeError on a bad group name
      for (const name of names) this.groupOfCustomField.set(name, group)
    }
    this.cache = new LruCache(
      options.cacheSize ?? DEFAULT_CACHE_SIZE,
      (id) => this.locks.isLocked(id),
      (id, loaded) => this.evicted(id, loaded),
    )
  }

  // ── lifecycle ────────────────────────────────────────────────────────────────────

  async open(): Promise<void> {
    await this.storage.open()
    const format = await this.storage.get(FORMAT_KEY)
    if (format === undefined) {
      await this.storage.write([
        { type: 'put', key: FORMAT_KEY, value: encoder.encode(FORMAT_VERSION) },
      ])
    } else if (decoder.decode(format) !== FORMAT_VERSION) {
      await this.storage.close()
      throw new ObjectSyncError(
        'STORE_IO',
        `the store has layout version ${decoder.decode(format)}; this objectsync reads version ${FORMAT_VERSION}`,
      )
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
    this.commits = new CommitQueue(this.storage, {
      sync: this.options.syncWrites ?? false,
      lastSeq,
      onCommitted: (entries) => this.committed(entries),
    })
    this.log.debug({ lastSeq }, 'store opened')
  }

  /** Finishes in-flight writes, folds appended changes into snapshots, and closes. */
  async close(): Promise<void> {
    const commits = this.commits
    if (commits === undefined) return
    clearTimeout(this.idleTimer)
    await this.locks.drain()
    await this.compactCached()
    await commits.flush()
    this.commits = undefined
    for (const loaded of this.cache.clear()) freeObject(loaded)
    await this.storage.close()
  }

  get lastSeq(): number {
    return this.openCommits().lastSeq
  }

  /** How many objects are loaded in memory now; bounded by `cacheSize` between operations. */
  get loadedObjects(): number {
    return this.cache.size
  }

  // ── local edits ──────────────────────────────────────────────────────────────────

  async create(input: NewObject, options: EditOptions = {}): Promise<StoredObject> {
    const commits = this.openCommits()
    if (!isObjectType(input.type)) {
      throw new ObjectSyncError(
        'INVALID_OBJECT',
        `type: expected one of person, organization, transaction, file`,
        {
          details: { path: 'type' },
        },
      )
    }
    const type = input.type
    const valid = validateNewObject(type, { fields: input.fields, custom: input.custom })
    if (type === 'file') await this.checkFileContent(valid.fields)
    const id = newObjectId(this.clock())
    const stamp = this.stamp()
    const contents = new Map<FacetName, Record<string, FieldValue>>([[CORE_FACET, valid.fields]])
    for (const [name, value] of Object.entries(valid.custom ?? {})) {
      const facet = this.facetOfCustomField(name)
      contents.set(facet, { ...contents.get(facet), [name]: value })
    }
    const ops: StorageOp[] = [{ type: 'put', key: typeIndexKey(type, id), value: EMPTY }]
    const feed: FeedDraft[] = []
    for (const [facet, fields] of contents) {
      const bytes = encodeNewFacet(type, fields, stamp, this.actor)
      ops.push({ type: 'put', key: snapshotKey(id, facet), value: bytes })
      feed.push({ facet: facetId(id, facet), object: id, type, ...this.fromOf(options) })
    }
    // The new documents are not loaded: most created objects (an import, a first sync)
    // are not read again soon, and every live document costs the garbage collector.
    await this.locks.run(id, () => commits.submit(ops, feed))
    const written: Record<string, WrittenBy> = {}
    for (const name of Object.keys(valid.fields)) written[name] = stamp
    for (const name of Object.keys(valid.custom ?? {})) written[`custom.${name}`] = stamp
    return {
      id,
      type,
      fields: valid.fields,
      custom: valid.custom ?? {},
      deleted: false,
      updatedAt: new Date(stamp.at).toISOString(),
      written,
      conflicts: [],
    }
  }

  async get(id: ObjectId): Promise<StoredObject | undefined> {
    this.openCommits()
    if (!isObjectId(id)) return undefined
    return this.locks.run(id, async () => {
      const loaded = await this.load(id)
      return loaded === undefined
        ? undefined
        : toStoredObject(id, loaded, this.options.sourcesOfTruth)
    })
  }

  /** Changes some fields; `null` clears one. Returns the object as it now is. */
  async update(
    id: ObjectId,
    patch: { fields?: Record<string, FieldValue | null>; custom?: Record<string, unknown> },
    options: EditOptions = {},
  ): Promise<StoredObject> {
    return this.updateForced(id, patch, undefined, options)
  }

  /**
   * A file written here names content held here (stored first, e.g. with POST /v1/blobs):
   * its size is the content's, filled in when not given.
   */
  private async checkFileContent(fields: Record<string, FieldValue | null>): Promise<void> {
    const sha = fields.sha256
    // Content taken away (a row's content set to NULL): its size goes with it.
    if (sha === null && fields.size === undefined) fields.size = null
    if (typeof sha !== 'string') return
    const manifest = await this.blobs.manifest(sha)
    if (manifest === undefined) {
      throw new ObjectSyncError(
        'BLOB_NOT_FOUND',
        `sha256: no content ${sha} is held here; store the file's content first`,
        { details: { path: 'sha256', sha256: sha } },
      )
    }
    if (fields.size === undefined || fields.size === null) fields.size = manifest.size
    else if (fields.size !== manifest.size) {
      throw new ObjectSyncError(
        'INVALID_OBJECT',
        `size: ${JSON.stringify(fields.size)} is not the size of the content ${sha} (${manifest.size} bytes)`,
        { details: { path: 'size' } },
      )
    }
  }

  /** update(), writing `force` (a field or custom field name) even if its value is unchanged. */
  private async updateForced(
    id: ObjectId,
    patch: { fields?: Record<string, FieldValue | null>; custom?: Record<string, unknown> },
    force?: string,
    options: EditOptions = {},
  ): Promise<StoredObject> {
    const forced = new Set(force === undefined ? [] : [force])
    const commits = this.openCommits()
    return this.locks.run(id, async () => {
      const loaded = await this.loadExisting(id)
      const valid = validatePatch(loaded.type, patch)
      if (loaded.type === 'file' && valid.fields !== undefined) {
        const { sha256, size } = valid.fields
        if (sha256 === undefined && typeof size === 'number') {
          // A new size alone must still be the size of the content the file names.
          const current = resolveFacet(loaded.facets.get(CORE_FACET)!.doc).content.fields.sha256
          if (typeof current === 'string') await this.checkFileContent({ sha256: current, size })
        } else {
          await this.checkFileContent(valid.fields)
        }
      }
      const stamp = this.stamp()
      const edits = new Map<FacetName, Record<string, FieldValue | null>>()
      if (valid.fields !== undefined) edits.set(CORE_FACET, valid.fields)
      for (const [name, value] of Object.entries(valid.custom ?? {})) {
        const home = this.facetOfCustomField(name)
        edits.set(home, { ...edits.get(home), [name]: value })
        // A field that moved group in the config is removed from its old facet.
        for (const [facet, state] of loaded.facets) {
          if (facet !== home && facet !== CORE_FACET && name in (state.doc.fields ?? {})) {
            edits.set(facet, { ...edits.get(facet), [name]: null })
          }
        }
      }
      const changed = new Map<FacetName, Doc>()
      for (const [facet, facetPatch] of edits) {
        const state = loaded.facets.get(facet)
        const next =
          state === undefined
            ? createFacetDoc(loaded.type, withoutNulls(facetPatch), stamp, this.actor)
            : changeFacetDoc(state.doc, facetPatch, stamp, forced)
        if (next !== undefined && (state !== undefined || Object.keys(next.fields).length > 0)) {
          changed.set(facet, next)
        } else if (next !== undefined) A.free(next)
      }
      await this.commitChanges(commits, id, loaded, changed, this.fromOf(options))
      return toStoredObject(id, loaded, this.options.sourcesOfTruth)
    })
  }

  /** Tombstones the object: it stays, marked deleted, so the delete can sync. */
  async delete(id: ObjectId, options: EditOptions = {}): Promise<void> {
    const commits = this.openCommits()
    await this.locks.run(id, async () => {
      const loaded = await this.loadExisting(id, { allowDeleted: true })
      const core = loaded.facets.get(CORE_FACET)
      if (core === undefined || core.doc.deleted === true) return
      const next = tombstoneFacetDoc(core.doc, this.stamp())
      await this.commitChanges(
        commits,
        id,
        loaded,
        new Map([[CORE_FACET, next]]),
        this.fromOf(options),
      )
    })
  }

  /**
   * Appends a feed entry for the object's core without changing it: what reads the feed
   * looks at the object again. A change outside the object that alters who may see it
   * (the local system's group membership) goes through the feed this way, so a peer that
   * is offline meanwhile still hears of it when it resumes from its cursor.
   */
  async touch(
    id: ObjectId,
    /** The peer the reason came from: its sessions need not send the object back. */
    from?: InstanceId,
  ): Promise<void> {
    const commits = this.openCommits()
    await this.locks.run(id, async () => {
      const loaded = await this.load(id)
      if (loaded === undefined) return
      await commits.submit(
        [],
        [
          {
            facet: facetId(id, CORE_FACET),
            object: id,
            type: loaded.type,
            touch: true,
            ...(from === undefined ? {} : { from }),
          },
        ],
      )
    })
  }

  /** How many objects of the type the store holds (deleted ones included), from its index. */
  async count(type: ObjectType): Promise<number> {
    this.openCommits()
    const prefix = typeIndexPrefix(type)
    let count = 0
    for await (const [key] of this.storage.range({ gte: prefix, lt: prefixEnd(prefix) })) {
      if (key.startsWith(prefix)) count++
    }
    return count
  }

  async list(type: ObjectType, options: ListOptions = {}): Promise<ObjectPage> {
    this.openCommits()
    const limit = Math.min(options.limit ?? DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)
    if (!Number.isInteger(limit) || limit < 1) {
      throw new ObjectSyncError(
        'INVALID_CURSOR',
        `limit: expected an integer from 1 to ${MAX_LIST_LIMIT}`,
      )
    }
    if (options.after !== undefined && !isObjectId(options.after)) {
      throw new ObjectSyncError('INVALID_CURSOR', `after: expected the "next" of a previous page`)
    }
    const prefix = typeIndexPrefix(type)
    const items: StoredObject[] = []
    const corrupt: ObjectId[] = []
    let gte = options.after === undefined ? prefix : `${prefix}${options.after}\u0000`
    let last: string | undefined
    // Tombstoned objects are skipped by default, so a page may need several index reads.
    while (items.length < limit) {
      const ids: ObjectId[] = []
      for await (const [key] of this.storage.range({ gte, lt: prefixEnd(prefix), limit })) {
        ids.push(key.slice(prefix.length) as ObjectId)
      }
      for (const id of ids) {
        if (items.length === limit) break
        last = id
        // One corrupt object must not hide the rest of the page: it is reported instead.
        const object = await this.get(id).catch((error: unknown) => {
          if (isObjectSyncError(error, 'DOCUMENT_CORRUPT')) corrupt.push(id)
          else throw error
        })
        if (object !== undefined && (options.includeDeleted || !object.deleted)) items.push(object)
      }
      if (ids.length < limit) return { items, next: undefined, corrupt }
      gte = `${prefix}${ids[ids.length - 1]!}\u0000`
    }
    return { items, next: last, corrupt }
  }

  // ── remote changes ───────────────────────────────────────────────────────────────

  /**
   * Applies changes received for one facet. Changes already present are ignored, so
   * duplicate delivery applies nothing twice. Throws INVALID_CHANGES, storing nothing,
   * when the bytes don't parse or the resulting document is not a valid facet.
   */
  async applyRemoteChanges(
    facet: FacetId,
    changes: readonly Uint8Array[],
    /** The peer they came from, kept in the feed (absent: this instance). */
    from?: InstanceId,
  ): Promise<AppliedChanges> {
    return this.applyRemote(facet, 'changes', from, (base) => {
      const start = base ?? A.init<never>({ actor: this.actor })
      try {
        return A.applyChanges(start, [...changes])[0]
      } catch (error) {
        if (base === undefined) A.free(start)
        throw error
      }
    })
  }

  /**
   * Merges a peer's whole stored facet (as `getFacetBytes` returns it): the bulk path of a
   * first sync. A facet new here is stored as received, once it has loaded and passed
   * the same checks as remote changes; one that exists gets only what it lacked.
   */
  async applyRemoteDocument(
    facet: FacetId,
    bytes: Uint8Array,
    from?: InstanceId,
  ): Promise<AppliedChanges> {
    return this.applyRemote(
      facet,
      'document',
      from,
      (base) => this.integrateDocument(base, bytes),
      bytes,
    )
  }

  private integrateDocument(base: Doc | undefined, bytes: Uint8Array): Doc {
    return base === undefined
      ? A.load<never>(bytes, { actor: this.actor })
      : A.loadIncremental(base, bytes)
  }

  /**
   * The stored facets of objects of one type, a page at a time in id order: the first
   * sync of a peer that is not shared every type. One range read per object.
   */
  async scanFacetsOfType(
    type: ObjectType,
    options: { after?: string | undefined; maxBytes?: number } = {},
  ): Promise<{ facets: { facet: FacetId; bytes: Uint8Array }[]; next: string | undefined }> {
    this.openCommits()
    const maxBytes = options.maxBytes ?? 1 << 20
    const prefix = typeIndexPrefix(type)
    const facets: { facet: FacetId; bytes: Uint8Array }[] = []
    let bytes = 0
    const gte = options.after === undefined ? prefix : `${prefix}${options.after}\u0000`
    for await (const [key] of this.storage.range({ gte, lt: prefixEnd(prefix) })) {
      const id = key.slice(prefix.length) as ObjectId
      const page = await this.scanFacets({ after: undefined, maxBytes: Infinity, within: id })
      for (const item of page.facets) {
        facets.push(item)
        bytes += item.bytes.length
      }
      if (bytes >= maxBytes) return { facets, next: id }
    }
    return { facets, next: undefined }
  }

  /**
   * The shared path of remote changes: integrate, check, and commit with a feed entry.
   * Throws INVALID_CHANGES, storing nothing, when integration fails or the result is
   * not a valid facet. Objects new here are not kept loaded, as with local creates.
   */
  private async applyRemote(
    facet: FacetId,
    what: 'changes' | 'document',
    from: InstanceId | undefined,
    integrate: (base: Doc | undefined) => Doc,
    storeAsReceived?: Uint8Array,
  ): Promise<AppliedChanges> {
    const commits = this.openCommits()
    const parsed = parseFacetId(facet)
    if (parsed === undefined) {
      throw new ObjectSyncError('INVALID_CHANGES', `${JSON.stringify(facet)} is not a facet id`)
    }
    return this.locks.run(parsed.object, () =>
      this.applyRemoteLocked(commits, facet, what, integrate, storeAsReceived, undefined, from),
    )
  }

  /** The body of applyRemote; the caller holds the object's lock. */
  private async applyRemoteLocked(
    commits: CommitQueue,
    facet: FacetId,
    what: 'changes' | 'document',
    integrate: (base: Doc | undefined) => Doc,
    storeAsReceived?: Uint8Array,
    accepts?: Accepts,
    from?: InstanceId,
  ): Promise<AppliedChanges> {
    const { object, facet: name } = parseFacetId(facet)!
    const loaded = await this.load(object)
    const state = loaded?.facets.get(name)
    const before = state === undefined ? [] : A.getHeads(state.doc)
    let next: Doc
    try {
      next = integrate(state?.doc)
    } catch (error) {
      if (state !== undefined) this.discard(object, name, state.doc, loaded, state)
      throw new ObjectSyncError('INVALID_CHANGES', `the ${what} for ${facet} could not be parsed`, {
        cause: error,
      })
    }
    const after = A.getHeads(next)
    const changed = !sameHeads(before, after)
    const content = readFacetDoc(next)
    const problem = changed ? checkRemoteFacet(name, next, content, loaded?.type) : undefined
    if (problem !== undefined) {
      this.discard(object, name, next, loaded, state)
      throw new ObjectSyncError(
        'INVALID_CHANGES',
        `the ${what} for ${facet} were refused: ${problem}`,
      )
    }
    const type = (loaded?.type ?? content.type) as ObjectType
    if (changed && accepts !== undefined && !accepts(type, name)) {
      this.discard(object, name, next, loaded, state)
      throw outOfScope(facet, type)
    }
    const result: AppliedChanges = {
      facet,
      object,
      type,
      changed,
      // A facet new here changed in every field it has; no need to diff its history.
      fields: !changed
        ? []
        : state === undefined
          ? fieldsOf(content)
          : changedFields(next, before, after),
      heads: after,
      missingDeps: A.getMissingDeps(next, []),
      storedAsReceived: changed && state === undefined && storeAsReceived !== undefined,
    }
    if (!changed) {
      this.replaceDoc(object, loaded, name, next, state)
      return result
    }
    // A merge that left concurrent values, or set a delete against an edit, puts the
    // object in the conflict inbox — also when the object is new here.
    const inbox: StorageOp[] = []
    if (resolveFacet(next).conflicts.length > 0) {
      inbox.push({ type: 'put', key: conflictKey(object), value: EMPTY })
    }
    if (loaded === undefined) {
      if (name === CORE_FACET && deleteConflict(content) !== undefined) {
        inbox.push({ type: 'put', key: deleteConflictKey(object), value: EMPTY })
      }
      await this.commitNewObject(commits, object, type, name, next, storeAsReceived, inbox, from)
      if (inbox.length > 0) this.conflictsChanged(object)
      return result
    }
    if (
      name === CORE_FACET &&
      deleteMeetsEdit(
        { deleted: state?.doc.deleted === true, heads: before },
        { deleted: content.deleted, heads: after, changedFields: result.fields },
      )
    ) {
      inbox.push({ type: 'put', key: deleteConflictKey(object), value: EMPTY })
    }
    await this.commitChanges(commits, object, loaded, new Map([[name, next]]), {
      appended: new Map([[name, A.getChangesSince(next, before)]]),
      extraOps: inbox,
      from,
    })
    if (inbox.length > 0) this.conflictsChanged(object)
    return result
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
  ): Promise<(AppliedChanges | ObjectSyncError)[]> {
    const commits = this.openCommits()
    const quick = items.map(([facet, bytes]) => quickRead(facet, bytes))
    // Whether each object exists, whatever type the sender claims for it: a facet that
    // names another type than the object here has must not pass as a new object.
    const probes = quick.map((read) =>
      read instanceof ObjectSyncError ||
      read === undefined ||
      this.cache.get(read.object) !== undefined
        ? undefined
        : OBJECT_TYPES.map((type) => typeIndexKey(type, read.object)),
    )
    this.prefetches++
    try {
      const wanted = probes.flatMap((keys) => keys ?? [])
      const found = await this.storage.getMany(wanted)
      const exists = new Map(wanted.map((key, i) => [key, found[i] !== undefined]))
      return await Promise.all(
        items.map(async ([facet, bytes], index) => {
          const read = quick[index]
          if (read instanceof ObjectSyncError) return read
          const probe = probes[index]
          try {
            // The general path: load, merge and check, under the object's lock.
            const merge = () =>
              this.applyRemoteLocked(
                commits,
                facet,
                'document',
                (base) => this.integrateDocument(base, bytes),
                bytes,
                accepts,
                from,
              )
            if (read === undefined) return await this.locks.run(parseFacetId(facet)!.object, merge)
            if (accepts !== undefined && !accepts(read.content.type, read.facet)) {
              return outOfScope(facet, read.content.type)
            }
            return await this.locks.run(read.object, async () => {
              const absent =
                probe !== undefined &&
                probe.every((key) => exists.get(key) === false) &&
                !this.createdDuringPrefetch.has(read.object) &&
                this.cache.get(read.object) === undefined
              if (!absent) return merge()
              const problem = checkFields(read.facet, read.content.type, read.content)
              if (problem !== undefined) {
                return new ObjectSyncError(
                  'INVALID_CHANGES',
                  `the document for ${facet} was refused: ${problem}`,
                )
              }
              await this.commitNewObject(
                commits,
                read.object,
                read.content.type,
                read.facet,
                undefined,
                bytes,
                [],
                from,
              )
              return {
                facet,
                object: read.object,
                type: read.content.type,
                changed: true,
                fields: fieldsOf(read.content),
                heads: read.content.heads,
                missingDeps: [],
                storedAsReceived: true,
              }
            })
          } catch (error) {
            if (isObjectSyncError(error, 'INVALID_CHANGES')) return error
            throw error
          }
        }),
      )
    } finally {
      if (--this.prefetches === 0) this.createdDuringPrefetch.clear()
    }
  }

  /** Stores the first facet of an object that arrived from a peer, and lets it go. */
  private async commitNewObject(
    commits: CommitQueue,
    object: ObjectId,
    type: ObjectType,
    facet: FacetName,
    doc: Doc | undefined,
    storeAsReceived: Uint8Array | undefined,
    extraOps: readonly StorageOp[] = [],
    from?: InstanceId,
  ): Promise<void> {
    try {
      await commits.submit(
        [
          ...extraOps,
          { type: 'put', key: typeIndexKey(type, object), value: EMPTY },
          { type: 'put', key: snapshotKey(object, facet), value: storeAsReceived ?? A.save(doc!) },
        ],
        [{ facet: facetId(object, facet), object, type, ...(from === undefined ? {} : { from }) }],
      )
      // A batch that looked this object up before it existed must not create it twice.
      if (this.prefetches > 0) this.createdDuringPrefetch.add(object)
    } finally {
      if (doc !== undefined) A.free(doc)
    }
  }

  /**
   * A facet's stored bytes — its snapshot and appended changes, concatenated — loadable
   * with Automerge.load, read without loading the document.
   */
  async getFacetBytes(facet: FacetId): Promise<Uint8Array | undefined> {
    this.openCommits()
    const parsed = parseFacetId(facet)
    if (parsed === undefined) return undefined
    const prefix = `${objectPrefix(parsed.object)}${parsed.facet}/`
    return this.locks.run(parsed.object, async () => {
      const chunks: Uint8Array[] = []
      let snapshot: Uint8Array | undefined
      for await (const [key, value] of this.storage.range({ gte: prefix, lt: prefixEnd(prefix) })) {
        // Keys sort chunks (c…) before the snapshot (s); the snapshot must come first.
        if (key.endsWith('/s')) snapshot = value
        else chunks.push(value)
      }
      if (snapshot === undefined && chunks.length === 0) return undefined
      return concat(snapshot, chunks)
    })
  }

  /**
   * Every stored facet in key order, a page at a time, read in one range scan without
   * loading documents: the bulk path of a first sync. Pass the returned `next` to go on.
   */
  async scanFacets(
    options: { after?: string | undefined; maxBytes?: number; within?: ObjectId } = {},
  ): Promise<{ facets: { facet: FacetId; bytes: Uint8Array }[]; next: string | undefined }> {
    this.openCommits()
    const maxBytes = options.maxBytes ?? 1 << 20
    const facets: { facet: FacetId; bytes: Uint8Array }[] = []
    let current: { facet: FacetId; parts: Uint8Array[]; snapshot?: Uint8Array } | undefined
    let bytes = 0
    const flush = () => {
      if (current === undefined) return
      facets.push({ facet: current.facet, bytes: concat(current.snapshot, current.parts) })
      current = undefined
    }
    const gte = options.after === undefined ? DOC_PREFIX : `${DOC_PREFIX}${options.after}/\uffff`
    const end =
      options.within === undefined ? prefixEnd(DOC_PREFIX) : prefixEnd(objectPrefix(options.within))
    const start = options.within === undefined ? gte : objectPrefix(options.within)
    for await (const [key, value] of this.storage.range({ gte: start, lt: end })) {
      const slash = key.lastIndexOf('/')
      const facet = key.slice(DOC_PREFIX.length, slash) as FacetId
      if (current?.facet !== facet) {
        flush()
        // Stop between facets once the page is full.
        if (bytes >= maxBytes) return { facets, next: facets[facets.length - 1]!.facet }
        current = { facet, parts: [] }
      }
      if (key.endsWith('/s')) current.snapshot = value
      else current.parts.push(value)
      bytes += value.length
    }
    flush()
    return { facets, next: undefined }
  }

  /** Small values the sync engine keeps per peer (cursors), stored with the documents. */
  async getSyncState(key: string): Promise<Uint8Array | undefined> {
    this.openCommits()
    return this.storage.get(SYNC_STATE_PREFIX + key)
  }

  async putSyncState(key: string, value: Uint8Array): Promise<void> {
    await this.updateSyncState([[key, value]])
  }

  /** Every sync-state entry whose key starts with `prefix`, in key order. */
  async *scanSyncState(prefix: string): AsyncIterable<[string, Uint8Array]> {
    this.openCommits()
    const from = SYNC_STATE_PREFIX + prefix
    for await (const [key, value] of this.storage.range({ gte: from, lt: prefixEnd(from) })) {
      yield [key.slice(SYNC_STATE_PREFIX.length), value]
    }
  }

  /** Puts, or with `undefined` deletes, several sync-state entries in one write. */
  async updateSyncState(
    entries: readonly (readonly [string, Uint8Array | undefined])[],
  ): Promise<void> {
    await this.openCommits().submit(
      entries.map(([key, value]) =>
        value === undefined
          ? { type: 'del', key: SYNC_STATE_PREFIX + key }
          : { type: 'put', key: SYNC_STATE_PREFIX + key, value },
      ),
      [],
    )
  }

  // ── the conflict inbox ───────────────────────────────────────────────────────────

  /** Fields written concurrently on two instances, with the value shown and those that lost. */
  async listConflicts(): Promise<ConflictEntry[]> {
    const commits = this.openCommits()
    const marked = new Map<ObjectId, { fields: boolean; deleted: boolean }>()
    for await (const [key] of this.storage.range({
      gte: CONFLICT_PREFIX,
      lt: prefixEnd(CONFLICT_PREFIX),
    })) {
      const rest = key.slice(CONFLICT_PREFIX.length)
      const id = rest.slice(0, 26) as ObjectId
      const mark = marked.get(id) ?? { fields: false, deleted: false }
      if (rest.endsWith('/deleted')) mark.deleted = true
      else mark.fields = true
      marked.set(id, mark)
    }
    const entries: ConflictEntry[] = []
    for (const [id, mark] of marked) {
      const { fields, deleted, corrupt } = await this.locks.run(id, async () => {
        // One corrupt object must not hide every other conflict: it is skipped (load
        // logged it) and keeps its place in the inbox.
        const loaded = await this.load(id).catch((error: unknown) => {
          if (!isObjectSyncError(error, 'DOCUMENT_CORRUPT')) throw error
          return 'corrupt' as const
        })
        if (loaded === 'corrupt') return { fields: [], deleted: undefined, corrupt: true }
        if (loaded === undefined) return { fields: [], deleted: undefined, corrupt: false }
        const core = loaded.facets.get(CORE_FACET)
        const deletion =
          mark.deleted && core !== undefined ? deleteConflict(readFacetDoc(core.doc)) : undefined
        return {
          fields: conflictsOf(id, loaded, this.options.sourcesOfTruth),
          deleted: deletion && { ...deletion, type: loaded.type },
          corrupt: false,
        }
      })
      if (corrupt) continue
      // Settled since (by a later edit, here or elsewhere): the object leaves the inbox.
      const settled: StorageOp[] = []
      if (mark.fields && fields.length === 0) settled.push({ type: 'del', key: conflictKey(id) })
      if (mark.deleted && deleted === undefined)
        settled.push({ type: 'del', key: deleteConflictKey(id) })
      if (settled.length > 0) {
        await commits.submit(settled, [])
        this.conflictsChanged(id)
      }
      if (deleted !== undefined) {
        entries.push({
          object: id,
          type: deleted.type,
          field: 'deleted',
          winner: deleted.winner,
          losers: deleted.losers,
        })
      }
      entries.push(...fields)
    }
    return entries
  }

  /**
   * Settles a conflict by writing the chosen value — the one shown or one that lost,
   * named by who wrote it and when — as a new edit here, which every instance then sees
   * as later than all the concurrent ones.
   */
  async resolveConflict(
    id: ObjectId,
    field: string,
    choice: { by: string; at: number },
  ): Promise<StoredObject> {
    const conflict = (await this.listConflicts()).find(
      (entry) => entry.object === id && entry.field === field,
    )
    const chosen = [conflict?.winner, ...(conflict?.losers ?? [])].find(
      (candidate) => candidate?.by === choice.by && candidate.at === choice.at,
    )
    if (chosen === undefined) {
      throw new ObjectSyncError(
        'CONFLICT_NOT_FOUND',
        `object ${id} has no conflict on ${field} with a value written by ${choice.by} at ${choice.at}`,
        { details: { id, field } },
      )
    }
    if (field === 'deleted') return this.settleDelete(id, chosen.value === true)
    const custom = field.startsWith('custom.') ? field.slice('custom.'.length) : undefined
    const value = chosen.value ?? null
    const patch =
      custom === undefined ? { fields: { [field]: value } } : { custom: { [custom]: value } }
    const resolved = await this.updateForced(id, patch, custom ?? field)
    await this.listConflicts()
    return resolved
  }

  /** Keeps the delete (dismissing the edit) or restores the object with its fields. */
  private async settleDelete(id: ObjectId, keepDeleted: boolean): Promise<StoredObject> {
    const commits = this.openCommits()
    return this.locks.run(id, async () => {
      const loaded = await this.loadExisting(id, { allowDeleted: true })
      const dismiss: StorageOp[] = [{ type: 'del', key: deleteConflictKey(id) }]
      const core = loaded.facets.get(CORE_FACET)
      if (keepDeleted || core === undefined) await commits.submit(dismiss, [])
      else {
        await this.commitChanges(
          commits,
          id,
          loaded,
          new Map([[CORE_FACET, restoreFacetDoc(core.doc, this.stamp())]]),
          {
            extraOps: dismiss,
          },
        )
      }
      this.conflictsChanged(id)
      return toStoredObject(id, loaded, this.options.sourcesOfTruth)
    })
  }

  async getHeads(facet: FacetId): Promise<string[] | undefined> {
    return this.withFacet(facet, (doc) => A.getHeads(doc))
  }

  /** The changes of `facet` that are not ancestors of `heads` (all of them for `[]`). */
  async getChangesSince(
    facet: FacetId,
    heads: readonly string[],
  ): Promise<Uint8Array[] | undefined> {
    return this.withFacet(facet, (doc) => {
      const known = heads.filter((head) => A.hasHeads(doc, [head]))
      return A.getChangesSince(doc, known)
    })
  }

  /** The names of the facets an object has, or [] when it does not exist. */
  async facetsOf(id: ObjectId): Promise<FacetName[]> {
    return this.locks.run(id, async () => [...((await this.load(id))?.facets.keys() ?? [])])
  }

  // ── the feed ─────────────────────────────────────────────────────────────────────

  /** Feed entries with seq > `after`, oldest first. */
  async readFeed(after: number, limit = 1000): Promise<FeedEntry[]> {
    this.openCommits()
    if (!Number.isSafeInteger(after) || after < 0) {
      throw new ObjectSyncError('INVALID_CURSOR', `since: expected a feed sequence number ≥ 0`)
    }
    const entries: FeedEntry[] = []
    for await (const [key, value] of this.storage.range({
      gte: feedKey(after + 1),
      lt: prefixEnd(FEED_PREFIX),
      limit,
    })) {
      const { t, f, p, x } = JSON.parse(decoder.decode(value)) as {
        t: ObjectType
        f: FacetId
        p?: InstanceId
        x?: 1
      }
      const entry: FeedEntry = {
        seq: feedSeq(key),
        facet: f,
        object: parseFacetId(f)!.object,
        type: t,
      }
      if (p !== undefined) entry.from = p
      if (x === 1) entry.touch = true
      entries.push(entry)
    }
    return entries
  }

  /** Subscribes to the store's events (ObjectStoreEvents); returns unsubscribe. */
  on<Name extends keyof ObjectStoreEvents & string>(
    name: Name,
    listener: Listener<ObjectStoreEvents[Name]>,
  ): () => void {
    return this.events.on(name, listener)
  }

  // ── internals ────────────────────────────────────────────────────────────────────

  private conflictsChanged(object: ObjectId): void {
    this.events.emit('conflict', object)
  }

  private openCommits(): CommitQueue {
    if (this.commits === undefined) {
      throw new ObjectSyncError('STORE_CLOSED', 'the object store is not open')
    }
    return this.commits
  }

  private fromOf(options: EditOptions): { from?: InstanceId } {
    return options.fromLocalSystem === true ? { from: this.instanceId } : {}
  }

  private stamp(): WriteStamp {
    return { by: this.instanceId, at: this.clock() }
  }

  private facetOfCustomField(name: string): FacetName {
    return customFacet(this.groupOfCustomField.get(name) ?? OTHER_GROUP)
  }

  private async withFacet<T>(facet: FacetId, read: (doc: Doc) => T): Promise<T | undefined> {
    this.openCommits()
    const parsed = parseFacetId(facet)
    if (parsed === undefined) return undefined
    return this.locks.run(parsed.object, async () => {
      const state = (await this.load(parsed.object))?.facets.get(parsed.facet)
      return state === undefined ? undefined : read(state.doc)
    })
  }

  private async loadExisting(
    id: ObjectId,
    options: { allowDeleted?: boolean } = {},
  ): Promise<LoadedObject> {
    const loaded = isObjectId(id) ? await this.load(id) : undefined
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

  /** Loads every facet of an object with one range read. Call under the object's lock. */
  private async load(id: ObjectId): Promise<LoadedObject | undefined> {
    const cached = this.cache.get(id)
    if (cached !== undefined) return cached
    const parts = new Map<
      FacetName,
      { snapshot?: Uint8Array; chunks: Uint8Array[]; last: number }
    >()
    const prefix = objectPrefix(id)
    for await (const [key, value] of this.storage.range({ gte: prefix, lt: prefixEnd(prefix) })) {
      const parsedKey = parseDocKey(id, key)
      if (parsedKey === undefined) continue
      const entry = parts.get(parsedKey.facet) ?? { chunks: [], last: 0 }
      if (parsedKey.kind === 'snapshot') entry.snapshot = value
      else {
        entry.chunks.push(value)
        entry.last = parsedKey.index
      }
      parts.set(parsedKey.facet, entry)
    }
    if (parts.size === 0) return undefined
    const loaded: LoadedObject = { type: 'person', facets: new Map() }
    let type: ObjectType | undefined
    for (const [facet, entry] of parts) {
      let doc: Doc
      try {
        doc = A.load<never>(concat(entry.snapshot, entry.chunks), {
          actor: this.actor,
        })
      } catch (error) {
        freeObject(loaded)
        const fid = facetId(id, facet)
        this.log.error({ facet: fid, err: error }, 'stored document is corrupt')
        throw new ObjectSyncError(
          'DOCUMENT_CORRUPT',
          `the stored document of facet ${fid} could not be loaded`,
          {
            cause: error,
            details: { id, facet: fid },
          },
        )
      }
      loaded.facets.set(facet, { doc, chunks: entry.chunks.length, nextChunk: entry.last + 1 })
      const docType = readFacetType(doc)
      if (facet === CORE_FACET || type === undefined) type = docType ?? type
    }
    if (type === undefined) {
      freeObject(loaded)
      throw new ObjectSyncError('DOCUMENT_CORRUPT', `object ${id} has no type in its documents`, {
        details: { id },
      })
    }
    loaded.type = type
    this.cache.set(id, loaded)
    return loaded
  }

  /**
   * Persists new versions of some facets of `loaded` in one batch, then swaps them into
   * the cache. On failure the object is dropped from the cache, so the next read reloads
   * what is on disk.
   */
  private async commitChanges(
    commits: CommitQueue,
    id: ObjectId,
    loaded: LoadedObject,
    changed: Map<FacetName, Doc>,
    remote: {
      appended?: Map<FacetName, Uint8Array[]>
      extraOps?: StorageOp[]
      from?: InstanceId | undefined
    } = {},
  ): Promise<void> {
    if (changed.size === 0) return
    const ops: StorageOp[] = [...(remote.extraOps ?? [])]
    const feed: FeedDraft[] = []
    const states = new Map<FacetName, LoadedFacet>()
    for (const [facet, doc] of changed) {
      const previous = loaded.facets.get(facet)
      const chunks = previous?.chunks ?? 0
      const nextChunk = previous?.nextChunk ?? 1
      if (previous === undefined && remote.appended === undefined) {
        ops.push({ type: 'put', key: snapshotKey(id, facet), value: A.save(doc) })
        states.set(facet, { doc, chunks: 0, nextChunk: 1 })
      } else if (chunks + 1 >= this.compactAfter) {
        ops.push({ type: 'put', key: snapshotKey(id, facet), value: A.save(doc) })
        for (let index = nextChunk - chunks; index < nextChunk; index++) {
          ops.push({ type: 'del', key: chunkKey(id, facet, index) })
        }
        states.set(facet, { doc, chunks: 0, nextChunk })
      } else {
        const bytes = remote.appended?.get(facet) ?? [A.getLastLocalChange(doc)!]
        ops.push({
          type: 'put',
          key: chunkKey(id, facet, nextChunk),
          value: concat(undefined, bytes),
        })
        states.set(facet, { doc, chunks: chunks + 1, nextChunk: nextChunk + 1 })
      }
      feed.push({
        facet: facetId(id, facet),
        object: id,
        type: loaded.type,
        ...(remote.from === undefined ? {} : { from: remote.from }),
      })
    }
    try {
      await commits.submit(ops, feed)
    } catch (error) {
      // Each new handle shares memory with the one it was changed from: free it alone.
      for (const [facet, doc] of changed) {
        A.free(doc)
        loaded.facets.delete(facet)
      }
      this.dropFromCache(id)
      freeObject(loaded)
      throw error
    }
    for (const [facet, state] of states) loaded.facets.set(facet, state)
    if (this.cache.get(id) === undefined) this.cache.set(id, loaded)
  }

  /** After a no-op apply the new handle replaces the old one (the old is now outdated). */
  private replaceDoc(
    id: ObjectId,
    loaded: LoadedObject | undefined,
    facet: FacetName,
    doc: Doc,
    state: LoadedFacet | undefined,
  ): void {
    if (loaded === undefined || state === undefined) {
      A.free(doc)
      return
    }
    loaded.facets.set(facet, { ...state, doc })
    this.cache.get(id)
  }

  /**
   * Drops a facet whose handle may be unusable after a failed or refused apply. `latest`
   * shares its memory with the cached handle, so only it is freed for that facet.
   */
  private discard(
    id: ObjectId,
    facet: FacetName,
    latest: Doc,
    loaded: LoadedObject | undefined,
    state: LoadedFacet | undefined,
  ): void {
    A.free(latest)
    if (loaded === undefined || state === undefined) return
    loaded.facets.delete(facet)
    this.dropFromCache(id)
  }

  private dropFromCache(id: ObjectId): void {
    const cached = this.cache.take(id)
    if (cached !== undefined) freeObject(cached)
  }

  private committed(entries: readonly FeedEntry[]): void {
    this.scheduleIdleCompaction()
    this.events.emit('feed', entries)
  }

  private scheduleIdleCompaction(): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      this.compactCached().catch((error: unknown) =>
        this.log.warn({ err: error }, 'idle compaction failed'),
      )
    }, this.idleCompactionMs)
    this.idleTimer.unref()
  }

  /** Folds appended changes of every cached facet into snapshots. */
  private async compactCached(): Promise<void> {
    const commits = this.commits
    if (commits === undefined) return
    const dirty = [...this.cache.entries()].filter(([, loaded]) => hasChunks(loaded))
    await Promise.all(
      dirty.map(([id]) =>
        this.locks.run(id, async () => {
          const loaded = this.cache.get(id)
          if (loaded !== undefined) await commits.submit(compactionOps(id, loaded), [])
        }),
      ),
    )
  }

  /** An evicted object with appended changes is compacted on its way out. */
  private evicted(id: ObjectId, loaded: LoadedObject): void {
    const commits = this.commits
    if (commits !== undefined && hasChunks(loaded)) {
      commits.submit(compactionOps(id, loaded), []).catch((error: unknown) => {
        this.log.warn(
          { err: error, id },
          'compaction on eviction failed; the changes stay appended',
        )
      })
    }
    freeObject(loaded)
  }
}

function compactionOps(id: ObjectId, loaded: LoadedObject): StorageOp[] {
  const ops: StorageOp[] = []
  for (const [facet, state] of loaded.facets) {
    if (state.chunks === 0) continue
    ops.push({ type: 'put', key: snapshotKey(id, facet), value: A.save(state.doc) })
    for (let index = state.nextChunk - state.chunks; index < state.nextChunk; index++) {
      ops.push({ type: 'del', key: chunkKey(id, facet, index) })
    }
    state.chunks = 0
  }
  return ops
}

function hasChunks(loaded: LoadedObject): boolean {
  for (const state of loaded.facets.values()) if (state.chunks > 0) return true
  return false
}

function freeObject(loaded: LoadedObject): void {
  for (const state of loaded.facets.values()) A.free(state.doc)
  loaded.facets.clear()
}

function readFacetType(doc: Doc): ObjectType | undefined {
  const type = readFacetDoc(doc).type
  return isObjectType(type) ? type : undefined
}

function sourceOfTruth(
  sources: Readonly<Record<string, InstanceId>> | undefined,
  type: ObjectType,
  facet: FacetName,
): SourceOfTruth {
  if (sources === undefined) return () => undefined
  const prefix = facet === CORE_FACET ? `${type}.` : `${type}.custom.`
  return (field) => sources[prefix + field]
}

function toStoredObject(
  id: ObjectId,
  loaded: LoadedObject,
  sources?: Readonly<Record<string, InstanceId>>,
): StoredObject {
  const object: StoredObject = {
    id,
    type: loaded.type,
    fields: {},
    custom: {},
    deleted: false,
    updatedAt: '',
    written: {},
    conflicts: [],
  }
  let latest = 0
  for (const [facet, state] of loaded.facets) {
    const { content, conflicts } = resolveFacet(
      state.doc,
      sourceOfTruth(sources, loaded.type, facet),
    )
    const isCore = facet === CORE_FACET
    const name = (field: string) => (isCore ? field : `custom.${field}`)
    if (isCore) {
      object.fields = content.fields
      object.deleted = content.deleted
    } else {
      Object.assign(object.custom, content.fields)
    }
    for (const [field, stamp] of Object.entries(content.meta)) {
      object.written[name(field)] = stamp
      latest = Math.max(latest, stamp.at)
    }
    object.conflicts.push(...conflicts.map((conflict) => name(conflict.field)))
  }
  object.updatedAt = new Date(latest).toISOString()
  return object
}

function conflictsOf(
  id: ObjectId,
  loaded: LoadedObject,
  sources?: Readonly<Record<string, InstanceId>>,
): ConflictEntry[] {
  const entries: ConflictEntry[] = []
  for (const [facet, state] of loaded.facets) {
    const source = sourceOfTruth(sources, loaded.type, facet)
    for (const conflict of resolveFacet(state.doc, source).conflicts) {
      entries.push({
        object: id,
        type: loaded.type,
        field: facet === CORE_FACET ? conflict.field : `custom.${conflict.field}`,
        winner: conflict.winner,
        losers: conflict.losers,
      })
    }
  }
  return entries
}

/** Decides whether a facet of an object of a type may come from the sending peer. */
export type Accepts = (type: ObjectType, facet: FacetName) => boolean

function outOfScope(facet: FacetId, type: ObjectType): ObjectSyncError {
  return new ObjectSyncError(
    'INVALID_CHANGES',
    `${facet} (a ${type}) is outside what this peer may send`,
  )
}

function quickRead(
  facet: FacetId,
  bytes: Uint8Array,
): { object: ObjectId; facet: FacetName; content: EncodedFacet } | ObjectSyncError | undefined {
  const parsed = parseFacetId(facet)
  if (parsed === undefined) {
    return new ObjectSyncError('INVALID_CHANGES', `${JSON.stringify(facet)} is not a facet id`)
  }
  try {
    const content = readEncodedFacet(bytes)
    return content === undefined
      ? undefined
      : { object: parsed.object, facet: parsed.facet, content }
  } catch (error) {
    return new ObjectSyncError('INVALID_CHANGES', `the document for ${facet} could not be parsed`, {
      cause: error,
    })
  }
}

function fieldsOf(content: FacetContent): string[] {
  return [...Object.keys(content.fields), ...(content.deleted ? ['deleted'] : [])].sort()
}

function changedFields(doc: Doc, before: A.Heads, after: A.Heads): string[] {
  const names = new Set<string>()
  for (const patch of A.diff(doc, before, after)) {
    const [root, name] = patch.path
    if (root === 'fields' && typeof name === 'string') names.add(name)
    else if (root === 'deleted') names.add('deleted')
  }
  return [...names].sort()
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((head) => b.includes(head))
}

function withoutNulls(patch: Record<string, FieldValue | null>): Record<string, FieldValue> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null)) as Record<
    string,
    FieldValue
  >
}

function concat(first: Uint8Array | undefined, rest: readonly Uint8Array[]): Uint8Array {
  if (first !== undefined && rest.length === 0) return first
  if (first === undefined && rest.length === 1) return rest[0]!
  const parts = first === undefined ? rest : [first, ...rest]
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
