// Search by name or email across the store: one pass over the stored documents in id
// order, each core facet read from its bytes (without loading a document while it is
// still in its created form), stopping as soon as a page is full. Nothing is indexed
// beside the documents, so a search costs no memory between searches; a search that
// finds little reads the whole store (≈ 2.6 s at 100,000 persons: npm run bench:store).
import { ObjectSyncError } from '../../errors.ts'
import {
  CORE_FACET,
  isObjectId,
  matchesSearch,
  parseFacetId,
  searchForm,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import { readFacetBytes } from '../facet-doc.ts'
import type { FacetScan } from './facet-scan.ts'
import type { ObjectReads } from './reads.ts'
import type { StoredObject } from './types.ts'

export const DEFAULT_SEARCH_LIMIT = 20
export const MAX_SEARCH_LIMIT = 100
/** Longer queries name nobody: refused rather than compared with every record. */
export const MAX_QUERY_LENGTH = 200

export interface SearchOptions {
  type?: ObjectType
  limit?: number
  /** The `next` of a previous page: the search goes on after that object. */
  after?: string
}

export interface SearchPage {
  ids: ObjectId[]
  /** Where the next page starts (pass it as `after`), or undefined when the store is read. */
  next: ObjectId | undefined
}

/** A page of the objects found, read (one found and removed meanwhile is left out). */
export async function searchStored(
  scan: FacetScan,
  reads: ObjectReads,
  query: string,
  options: SearchOptions,
): Promise<{ items: StoredObject[]; next: ObjectId | undefined }> {
  const page = await searchObjects(scan, query, options)
  const items: StoredObject[] = []
  for (const id of page.ids) {
    const object = await reads.get(id)
    if (object !== undefined) items.push(object)
  }
  return { items, next: page.next }
}

export async function searchObjects(
  scan: FacetScan,
  query: string,
  options: SearchOptions,
): Promise<SearchPage> {
  const limit = options.limit ?? DEFAULT_SEARCH_LIMIT
  const folded = searchForm(query)
  if (folded.length === 0 || query.length > MAX_QUERY_LENGTH) {
    throw new ObjectSyncError(
      'INVALID_REQUEST',
      `q: expected 1 to ${MAX_QUERY_LENGTH} characters of a name or email`,
    )
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) {
    throw new ObjectSyncError(
      'INVALID_CURSOR',
      `limit: expected an integer from 1 to ${MAX_SEARCH_LIMIT}`,
    )
  }
  if (options.after !== undefined && !isObjectId(options.after)) {
    throw new ObjectSyncError('INVALID_CURSOR', 'after: expected the "next" of a previous page')
  }
  const ids: ObjectId[] = []
  let after: string | undefined = options.after
  for (;;) {
    const page = await scan.scanFacets({ after })
    for (const { facet, bytes } of page.facets) {
      const parsed = parseFacetId(facet)
      if (parsed === undefined || parsed.facet !== CORE_FACET) continue
      const content = readFacetBytes(bytes, { stored: true })
      // Deleted records, and records merged into another (found through their survivor).
      if (content === undefined || content.deleted || content.mergedInto !== undefined) continue
      if (options.type !== undefined && content.type !== options.type) continue
      if (!matchesSearch(content.type, content.fields, folded)) continue
      ids.push(parsed.object)
      if (ids.length === limit) return { ids, next: parsed.object }
    }
    if (page.next === undefined) return { ids, next: undefined }
    after = parseFacetId(page.next)?.object
  }
}
