// The key layout of the object store inside one ordered key space. Keys are ASCII (ids
// and facet names are validated), so JavaScript string order equals LevelDB byte order.
//
//   d/<objectId>/<facet>/s             the facet's last snapshot (Automerge.save)
//   d/<objectId>/<facet>/c<nnnnnnnnnn>  changes appended since that snapshot
//   t/<type>/<objectId>                 index for listing objects by type
//   f/<seq, 16 digits>                  the feed: { t: type, f: facetId }
//   s/<key>                             sync state (per-peer cursors)
//   x/<objectId>                        conflict inbox: objects that may hold concurrent values
//   x/<objectId>/deleted                conflict inbox: deleted on one instance, edited on another
//   g/<objectId>                        merges: the objects this one was merged into (ids, space-separated)
//   m/format                            the layout version
//
// All keys of one object sit under d/<objectId>/, so one range read loads the object.
import type { FacetName, ObjectId, ObjectType } from '../model/index.ts'
import { prefixEnd } from './storage.ts'

export const FORMAT_KEY = 'm/format'
export const FORMAT_VERSION = '1'

// 16 digits keep numeric and key order equal up to 10^16 changes: ~300 years at 1M/s.
const SEQ_DIGITS = 16
const CHUNK_DIGITS = 10
export const FEED_PREFIX = 'f/'
export const DOC_PREFIX = 'd/'
export const SYNC_STATE_PREFIX = 's/'
export const CONFLICT_PREFIX = 'x/'
export const MERGE_PREFIX = 'g/'

/** The merge index entry of an object merged into others (written with its core facet). */
export function mergeKey(object: ObjectId): string {
  return MERGE_PREFIX + object
}

export function conflictKey(object: ObjectId): string {
  return CONFLICT_PREFIX + object
}

/** Marks an object deleted on one instance while edited on another. */
export function deleteConflictKey(object: ObjectId): string {
  return `${CONFLICT_PREFIX}${object}/deleted`
}

export function objectPrefix(object: ObjectId): string {
  return `d/${object}/`
}

export function snapshotKey(object: ObjectId, facet: FacetName): string {
  return `d/${object}/${facet}/s`
}

export function chunkKey(object: ObjectId, facet: FacetName, index: number): string {
  return `d/${object}/${facet}/c${String(index).padStart(CHUNK_DIGITS, '0')}`
}

export type DocKey =
  { facet: FacetName; kind: 'snapshot' } | { facet: FacetName; kind: 'chunk'; index: number }

/** Parses the part of a document key after d/<objectId>/; undefined if it is not one. */
export function parseDocKey(object: ObjectId, key: string): DocKey | undefined {
  const rest = key.slice(objectPrefix(object).length)
  const slash = rest.lastIndexOf('/')
  if (slash < 0) return undefined
  const facet = rest.slice(0, slash) as FacetName
  const tail = rest.slice(slash + 1)
  if (tail === 's') return { facet, kind: 'snapshot' }
  if (tail.startsWith('c')) {
    const index = Number(tail.slice(1))
    if (Number.isSafeInteger(index)) return { facet, kind: 'chunk', index }
  }
  return undefined
}

export function typeIndexKey(type: ObjectType, object: ObjectId): string {
  return `t/${type}/${object}`
}

export function typeIndexPrefix(type: ObjectType): string {
  return `t/${type}/`
}

export function feedKey(seq: number): string {
  return FEED_PREFIX + String(seq).padStart(SEQ_DIGITS, '0')
}

export function feedSeq(key: string): number {
  return Number(key.slice(FEED_PREFIX.length))
}

export { prefixEnd }
