// The links between local records and objects: each record is linked to its object
// (`local/link/<type>/<key>` and `local/object/<id>`, with the row as the daemon last
// wrote or read it), each record made from a peer's object remembers that peer, and an
// object unified into another names the one kept. The maps here hold what this process
// has loaded or written; a link's last-seen row is read from the store when needed.
import type { InstanceId, ObjectId, ObjectType } from '../../model/index.ts'
import type { SyncStateEntry } from '../../store/index.ts'
import type { ReferenceResolver } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'
import type { RowSnapshot } from './row-snapshot.ts'
import {
  linkName,
  localState,
  parseLinkName,
  type LinkName,
  type ObjectLink,
} from './state-keys.ts'

export interface SaveLinkOptions {
  type: ObjectType
  key: string
  /** The row as just written or read; undefined: read it again in full next time. */
  seen: RowSnapshot | undefined
  /** The peer whose object this record became (kept from the first time on). */
  origin?: InstanceId | undefined
  /**
   * The daemon inserted the row for this object and the local system gave it its key
   * (assigned-keys.ts): kept, as a row keyed by its object's id says so by itself.
   */
  inserted?: boolean
}

export class Links {
  /**
   * Each type's records → their objects: a map per type, so that no `<type>/<key>` string
   * is kept (or built, for a lookup) per record. These maps are as big as the local
   * system; see ownCopy for the strings they keep.
   */
  private readonly keyToObject = new Map<ObjectType, Map<string, ObjectId>>()
  private readonly objectToKey = new Map<ObjectId, string>()
  /** Objects unified into another on a match: merged id → the id kept. */
  private readonly mergedInto = new Map<ObjectId, ObjectId>()
  /** Rows unlinked to be removed (a second row of one record), by link name. */
  private readonly dropping = new Set<LinkName>()
  /** The peer whose object became each record, for actions and matching. */
  private readonly origins = new Map<ObjectId, InstanceId>()
  /**
   * One string per peer for all the records it gave: an origin read from the store is a
   * string of its own (≈ 70 bytes a row, for a handful of peers).
   */
  private readonly peerIds = new Map<string, InstanceId>()
  /** Rows the daemon inserted for objects, keyed by the local system: object → row key. */
  private readonly insertedKeys = new Map<ObjectId, string>()

  constructor(private readonly core: Pick<LocalSyncCore, 'store' | 'mapping' | 'instanceId'>) {}

  /** Reads the links, origins and merges kept in the store. */
  async load(): Promise<void> {
    const { store } = this.core
    for await (const [name, id] of localState.link.scan(store)) {
      const { type, key } = parseLinkName(name)
      const own = ownCopy(key)
      this.recordsOfType(type).set(own, id)
      this.objectToKey.set(id, own)
    }
    for await (const [id, origin] of localState.origin.scan(store)) {
      this.origins.set(ownCopy(id), this.interned(origin))
    }
    for await (const [merged, kept] of localState.merged.scan(store)) {
      this.mergedInto.set(merged, kept)
    }
    for await (const [name] of localState.dropping.scan(store)) this.dropping.add(name)
    for await (const [id, key] of localState.inserted.scan(store)) {
      this.insertedKeys.set(ownCopy(id), key)
    }
  }

  /**
   * Whether the daemon inserted the record `key` for the object `id`: keyed by the
   * object's id, or by the key the local system gave it (assigned-keys.ts).
   */
  insertedFor(id: ObjectId, key: string): boolean {
    return key === id || this.insertedKeys.get(id) === key
  }

  private interned(peer: InstanceId): InstanceId {
    const known = this.peerIds.get(peer)
    if (known !== undefined) return known
    this.peerIds.set(peer, peer)
    return peer
  }

  /** Whether any record is linked. */
  hasAny(): boolean {
    for (const records of this.keyToObject.values()) if (records.size > 0) return true
    return false
  }

  /** The object the record is linked to, if any. */
  objectOf(type: ObjectType, key: string): ObjectId | undefined {
    return this.keyToObject.get(type)?.get(key)
  }

  /** The key of the record the object is linked to, if any. */
  keyOf(id: ObjectId): string | undefined {
    return this.objectToKey.get(id)
  }

  /** The records of the type and their objects. */
  recordsOf(type: ObjectType): [key: string, id: ObjectId][] {
    return [...(this.keyToObject.get(type) ?? [])].filter(
      ([key, id]) => this.objectToKey.get(id) === key,
    )
  }

  /**
   * The key of the record that stands for `id`: its own, else that of any object merged
   * with it (the store's groups), else — for objects unified before merges were data,
   * whose loser was deleted — that of the object it was unified into.
   */
  recordKeyOf(id: ObjectId): string | undefined {
    const own = this.objectToKey.get(id)
    if (own !== undefined) return own
    for (const member of this.core.store.groupOf(id)) {
      const key = this.objectToKey.get(member)
      if (key !== undefined) return key
    }
    const kept = this.mergedInto.get(id)
    return kept === undefined ? undefined : this.objectToKey.get(kept)
  }

  /** The peer whose object became the record, if any, as loaded. */
  originNow(id: ObjectId): InstanceId | undefined {
    return this.origins.get(id)
  }

  /** The peer whose object became the record, if any (read when actions may need it). */
  originOf(id: ObjectId): Promise<InstanceId | undefined> {
    return Promise.resolve(this.origins.get(id))
  }

  /** The object's link to its record, as last saved. */
  read(id: ObjectId): Promise<ObjectLink | undefined> {
    return localState.object.read(this.core.store, id)
  }

  save(id: ObjectId, options: SaveLinkOptions): Promise<void> {
    return this.saveMany([[id, options]])
  }

  /** Saves the links in one store write. */
  async saveMany(links: readonly (readonly [ObjectId, SaveLinkOptions])[]): Promise<void> {
    if (links.length === 0) return
    await this.core.store.updateSyncState(this.entriesOf(links))
    this.saved(links)
  }

  /** The sync-state entries that save the links, for a store write made elsewhere. */
  entriesOf(links: readonly (readonly [ObjectId, SaveLinkOptions])[]): SyncStateEntry[] {
    const entries: SyncStateEntry[] = []
    for (const [id, { type, key, seen, origin, inserted }] of links) {
      entries.push(
        localState.link.entry(linkName(type, key), id),
        localState.object.entry(id, { key, seen }),
      )
      if (origin !== undefined) entries.push(localState.origin.entry(id, origin))
      if (inserted === true) entries.push(localState.inserted.entry(id, key))
    }
    return entries
  }

  /** The links were written (entriesOf): they hold from now on. */
  saved(links: readonly (readonly [ObjectId, SaveLinkOptions])[]): void {
    for (const [id, { type, key, origin, inserted }] of links) {
      this.recordsOfType(type).set(key, id)
      this.objectToKey.set(id, key)
      if (origin !== undefined) this.origins.set(id, this.interned(origin))
      if (inserted === true) this.insertedKeys.set(id, key)
    }
  }

  private recordsOfType(type: ObjectType): Map<string, ObjectId> {
    let records = this.keyToObject.get(type)
    if (records === undefined) {
      records = new Map()
      this.keyToObject.set(type, records)
    }
    return records
  }

  /**
   * `merged` was unified into another object: its own link goes, and `reviewed` (the object the
   * match was decided for) leaves the review queue, in one write. The record's link to
   * the object kept is saved after. (The store's merge says the two are one: nothing else is kept
   * here, so an unmerge leaves no stale link behind.)
   */
  async merge(merged: ObjectId, reviewed: ObjectId): Promise<void> {
    await this.core.store.updateSyncState([
      localState.object.entry(merged, undefined),
      localState.review.entry(reviewed, undefined),
    ])
    this.objectToKey.delete(merged)
  }

  /**
   * The record of `from` now stands for `to` (the survivor of a merge `from` is part of),
   * with the row as last seen, in one write.
   */
  async move(from: ObjectId, to: ObjectId, type: ObjectType, key: string): Promise<void> {
    const link = await this.read(from)
    await this.core.store.updateSyncState([
      localState.object.entry(from, undefined),
      localState.link.entry(linkName(type, key), to),
      localState.object.entry(to, { key, seen: link?.seen }),
    ])
    this.objectToKey.delete(from)
    this.recordsOfType(type).set(key, to)
    this.objectToKey.set(to, key)
  }

  /**
   * The record no longer stands for the object, and its row is to go (a second row of one
   * record): noted in the same write, so that a crash before the row is removed leaves a
   * row that is removed at start, not one taken in as a new record.
   */
  async unlinkToDrop(id: ObjectId, type: ObjectType, key: string): Promise<void> {
    const name = linkName(type, key)
    await this.core.store.updateSyncState([
      localState.link.entry(name, undefined),
      localState.object.entry(id, undefined),
      localState.dropping.entry(name, id),
    ])
    this.keyToObject.get(type)?.delete(key)
    this.objectToKey.delete(id)
    this.dropping.add(name)
  }

  /** Whether the row was unlinked to be removed and is not removed yet. */
  isDropping(type: ObjectType, key: string): boolean {
    return this.dropping.has(linkName(type, key))
  }

  /** The rows unlinked to be removed, not removed yet. */
  droppingRows(): { type: ObjectType; key: string }[] {
    return [...this.dropping].map(parseLinkName)
  }

  /** The row was removed. */
  async dropped(type: ObjectType, key: string): Promise<void> {
    const name = linkName(type, key)
    await localState.dropping.write(this.core.store, name, undefined)
    this.dropping.delete(name)
  }

  /**
   * How references between records translate, through the links and merges: a record
   * names the object that stands for its own now, and an object is found in the record
   * of any object merged with it.
   */
  resolver(): ReferenceResolver {
    const { store } = this.core
    return {
      self: this.core.instanceId,
      toObject: (key) => {
        for (const type of this.core.mapping.keys()) {
          const id = this.objectOf(type, key)
          if (id !== undefined) return store.survivorOf(id)
        }
        return undefined
      },
      toLocal: (id) => this.recordKeyOf(id as ObjectId),
    }
  }
}

/**
 * `text` as a string of its own. A key read from the store and cut out of a longer one
 * (`local/link/<type>/<key>`) is kept by V8 as a slice that holds the whole longer string
 * alive: about 100 bytes a record more in the maps above, which hold every record.
 */
function ownCopy<T extends string>(text: T): T {
  // Strings this short are copied when cut anyway (V8 slices from 13 characters on).
  return text.length < 13 ? text : (JSON.parse(JSON.stringify(text)) as T)
}
