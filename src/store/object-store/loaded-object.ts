// An object as it is held in memory — one live Automerge document per facet, with how
// many change chunks are stored after each facet's snapshot — and the storage ops that
// fold those chunks into a new snapshot. Live documents must be freed (DESIGN.md: with
// thousands left live, garbage collection slows every new document ≈15×).
import * as A from '@automerge/automerge'
import { ObjectSyncError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import {
  CORE_FACET,
  facetId,
  isObjectType,
  type FacetName,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import { readFacetDoc, type Doc } from '../facet-doc.ts'
import { chunkKey, objectPrefix, parseDocKey, prefixEnd, snapshotKey } from '../keys.ts'
import type { StorageAdapter, StorageOp } from '../storage.ts'
import { joinFacetParts, type FacetParts } from './facet-parts.ts'

export interface LoadedFacet {
  doc: Doc
  /** Change chunks stored after the snapshot. */
  chunks: number
  nextChunk: number
}

export interface LoadedObject {
  type: ObjectType
  facets: Map<FacetName, LoadedFacet>
}

/** An object's stored parts, by facet, as one range read finds them. */
export type StoredParts = Map<FacetName, FacetParts & { last: number }>

/** Every stored part of the object's facets, with one range read (empty: nothing stored). */
export async function readParts(storage: StorageAdapter, id: ObjectId): Promise<StoredParts> {
  const parts: StoredParts = new Map()
  const prefix = objectPrefix(id)
  for await (const [key, value] of storage.range({ gte: prefix, lt: prefixEnd(prefix) })) {
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
  return parts
}

/**
 * Loads every facet of the parts read (readParts); undefined when nothing of the object
 * is stored. Throws DOCUMENT_CORRUPT (and logs) when a facet does not load.
 */
export function loadParts(
  id: ObjectId,
  parts: StoredParts,
  context: { actor: string; log: Logger },
): LoadedObject | undefined {
  if (parts.size === 0) return undefined
  const loaded: LoadedObject = { type: 'person', facets: new Map() }
  let type: ObjectType | undefined
  for (const [facet, entry] of parts) {
    let doc: Doc
    try {
      doc = A.load<never>(joinFacetParts(entry), { actor: context.actor })
    } catch (error) {
      freeObject(loaded)
      const fid = facetId(id, facet)
      context.log.error({ facet: fid, err: error }, 'stored document is corrupt')
      throw new ObjectSyncError(
        'DOCUMENT_CORRUPT',
        `the stored document of facet ${fid} could not be loaded`,
        { cause: error, details: { id, facet: fid } },
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
  return loaded
}

/**
 * The document saved, if the save loads back with the same heads; undefined otherwise.
 * Automerge loads some encodings of a change (a peer's, not as Automerge writes them)
 * whose saved document it can't load again: such a facet keeps its appended chunks,
 * which load, instead of a snapshot that would not.
 */
export function reloadableSave(doc: Doc): Uint8Array | undefined {
  const saved = A.save(doc)
  try {
    const again = A.load<never>(saved)
    try {
      const heads = A.getHeads(doc)
      const reloaded = A.getHeads(again)
      return heads.length === reloaded.length && heads.every((head) => reloaded.includes(head))
        ? saved
        : undefined
    } finally {
      A.free(again)
    }
  } catch {
    return undefined
  }
}

/**
 * Appends the ops that replace a facet's stored chunks (as counted in `stored`) with a
 * snapshot of `doc`; false, with nothing appended, when its save would not load again
 * (see reloadableSave).
 */
export function pushCompaction(
  ops: StorageOp[],
  id: ObjectId,
  facet: FacetName,
  doc: Doc,
  stored: { chunks: number; nextChunk: number },
): boolean {
  const saved = reloadableSave(doc)
  if (saved === undefined) return false
  ops.push({ type: 'put', key: snapshotKey(id, facet), value: saved })
  for (let index = stored.nextChunk - stored.chunks; index < stored.nextChunk; index++) {
    ops.push({ type: 'del', key: chunkKey(id, facet, index) })
  }
  return true
}

/** The ops that compact every facet of `loaded` with chunks; counts them as compacted. */
export function compactionOps(id: ObjectId, loaded: LoadedObject): StorageOp[] {
  const ops: StorageOp[] = []
  for (const [facet, state] of loaded.facets) {
    if (state.chunks === 0) continue
    if (pushCompaction(ops, id, facet, state.doc, state)) state.chunks = 0
  }
  return ops
}

export function hasChunks(loaded: LoadedObject): boolean {
  for (const state of loaded.facets.values()) if (state.chunks > 0) return true
  return false
}

export function freeObject(loaded: LoadedObject): void {
  for (const state of loaded.facets.values()) A.free(state.doc)
  loaded.facets.clear()
}

function readFacetType(doc: Doc): ObjectType | undefined {
  const type = readFacetDoc(doc).type
  return isObjectType(type) ? type : undefined
}
