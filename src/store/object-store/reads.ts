// Reading loaded objects: one object as StoredObject, a type's objects page by page from
// its index, how many there are, and the heads and changes of one facet.
import * as A from '@automerge/automerge'
import { ObjectSyncError, isObjectSyncError } from '../../errors.ts'
import {
  isObjectId,
  parseFacetId,
  type FacetId,
  type FacetName,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import type { Doc } from '../facet-doc.ts'
import { prefixEnd, typeIndexPrefix } from '../keys.ts'
import type { StoreCore } from './core.ts'
import type { ListOptions, ObjectPage, StoredObject } from './types.ts'
import {
  fillMissing,
  followMerges,
  linearStoredObject,
  receivedStoredObject,
  toStoredObject,
} from './views.ts'

const DEFAULT_LIST_LIMIT = 100

function tryLinearStoredObject(
  id: ObjectId,
  parts: Parameters<typeof linearStoredObject>[1],
): StoredObject | undefined {
  try {
    return linearStoredObject(id, parts)
  } catch {
    return undefined
  }
}
const MAX_LIST_LIMIT = 1_000

export class ObjectReads {
  constructor(private readonly core: StoreCore) {}

  /**
   * The object as it reads now: a merged one names its survivor (`mergedInto`), a survivor
   * gains the fields only its merged objects have, and references name survivors.
   */
  async get(id: ObjectId): Promise<StoredObject | undefined> {
    this.core.openCommits()
    if (!isObjectId(id)) return undefined
    const object = await this.own(id)
    if (object === undefined) return undefined
    const { identities } = this.core
    const survivor = identities.survivorOf(id)
    if (survivor !== id) object.mergedInto = survivor
    const merged = identities.mergedInto(id)
    if (merged.length > 0) {
      object.merged = [...merged]
      // One object at a time, each under its own lock: never two locks held at once.
      for (const member of merged) {
        const other = await this.own(member)
        if (other !== undefined) fillMissing(object, other)
      }
    }
    return followMerges(object, (other) => identities.survivorOf(other))
  }

  /**
   * The object's own documents as read, without merges. One whose facets are lines of
   * changes (created, then edited one change after the other) is read from its bytes
   * without loading (or caching) a document: what a first sync's receiver writes into
   * its local system, and most edited records, are read this way.
   */
  private own(id: ObjectId): Promise<StoredObject | undefined> {
    const core = this.core
    return core.locks.run(id, async () => {
      let loaded = core.cache.get(id)
      if (loaded === undefined) {
        const received = core.received.take(id)
        if (received !== undefined) return receivedStoredObject(id, received)
        const parts = await core.readParts(id)
        // Bytes that look created but don't decode are loaded, which reports them.
        const line = tryLinearStoredObject(id, parts)
        if (line !== undefined) return line
        loaded = await core.load(id, parts)
      }
      return loaded === undefined ? undefined : toStoredObject(id, loaded, core.sourcesOfTruth)
    })
  }

  async count(type: ObjectType): Promise<number> {
    this.core.openCommits()
    const prefix = typeIndexPrefix(type)
    let count = 0
    for await (const [key] of this.core.storage.range({ gte: prefix, lt: prefixEnd(prefix) })) {
      if (key.startsWith(prefix)) count++
    }
    return count
  }

  async list(type: ObjectType, options: ListOptions): Promise<ObjectPage> {
    this.core.openCommits()
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
      for await (const [key] of this.core.storage.range({ gte, lt: prefixEnd(prefix), limit })) {
        ids.push(key.slice(prefix.length) as ObjectId)
      }
      let consumed = 0
      for (const id of ids) {
        if (items.length === limit) break
        consumed++
        last = id
        // One corrupt object must not hide the rest of the page: it is reported instead.
        const object = await this.get(id).catch((error: unknown) => {
          if (isObjectSyncError(error, 'DOCUMENT_CORRUPT')) corrupt.push(id)
          else throw error
        })
        if (
          object !== undefined &&
          (options.includeDeleted || !object.deleted) &&
          (options.includeMerged || object.mergedInto === undefined)
        ) {
          items.push(object)
        }
      }
      // The end only when this short read was used up: a page that filled up part-way
      // through it goes on from its last id.
      if (ids.length < limit && consumed === ids.length) return { items, next: undefined, corrupt }
      gte = `${prefix}${ids[ids.length - 1]!}\u0000`
    }
    return { items, next: last, corrupt }
  }

  async facetsOf(id: ObjectId): Promise<FacetName[]> {
    const core = this.core
    return core.locks.run(id, async () => [...((await core.load(id))?.facets.keys() ?? [])])
  }

  async getHeads(facet: FacetId): Promise<string[] | undefined> {
    return this.withFacet(facet, (doc) => A.getHeads(doc))
  }

  async getChangesSince(
    facet: FacetId,
    heads: readonly string[],
  ): Promise<Uint8Array[] | undefined> {
    return this.withFacet(facet, (doc) => {
      const known = heads.filter((head) => A.hasHeads(doc, [head]))
      return A.getChangesSince(doc, known)
    })
  }

  private async withFacet<T>(facet: FacetId, read: (doc: Doc) => T): Promise<T | undefined> {
    const core = this.core
    core.openCommits()
    const parsed = parseFacetId(facet)
    if (parsed === undefined) return undefined
    return core.locks.run(parsed.object, async () => {
      const state = (await core.load(parsed.object))?.facets.get(parsed.facet)
      return state === undefined ? undefined : read(state.doc)
    })
  }
}
