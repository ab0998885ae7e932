// Stored facets read as bytes, without loading documents: one facet for a peer, or every
// facet (or every facet of one type) a page at a time — the bulk path of a first sync.
import { parseFacetId, type FacetId, type ObjectId, type ObjectType } from '../../model/index.ts'
import { DOC_PREFIX, objectPrefix, prefixEnd, typeIndexPrefix } from '../keys.ts'
import type { StorageAdapter } from '../storage.ts'
import type { StoreCore } from './core.ts'
import { addFacetPart, joinFacetParts, type FacetParts } from './facet-parts.ts'
import type { FacetPage } from './types.ts'

/** Stored bytes per page unless the caller says otherwise (a page may end a facet later). */
const DEFAULT_PAGE_BYTES = 1 << 20

export interface ScanOptions {
  after?: string | undefined
  maxBytes?: number
  /** Only the facets of this object. */
  within?: ObjectId
}

export class FacetScan {
  private readonly storage: StorageAdapter

  constructor(private readonly core: StoreCore) {
    this.storage = core.storage
  }

  /** A facet's snapshot and appended changes joined, or undefined when it is not stored. */
  async getFacetBytes(facet: FacetId): Promise<Uint8Array | undefined> {
    this.core.openCommits()
    const parsed = parseFacetId(facet)
    if (parsed === undefined) return undefined
    return this.core.locks.run(parsed.object, async () => {
      const part = (await this.core.readParts(parsed.object)).get(parsed.facet)
      return part === undefined ? undefined : joinFacetParts(part)
    })
  }

  /** Every stored facet in key order from one range scan; stops between facets when full. */
  async scanFacets(options: ScanOptions): Promise<FacetPage> {
    this.core.openCommits()
    const maxBytes = options.maxBytes ?? DEFAULT_PAGE_BYTES
    const facets: FacetPage['facets'] = []
    let current: (FacetParts & { facet: FacetId }) | undefined
    let bytes = 0
    const flush = () => {
      if (current === undefined) return
      facets.push({ facet: current.facet, bytes: joinFacetParts(current) })
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
        if (bytes >= maxBytes) return { facets, next: facets[facets.length - 1]!.facet }
        current = { facet, chunks: [] }
      }
      addFacetPart(current, key, value)
      bytes += value.length
    }
    flush()
    return { facets, next: undefined }
  }

  /** The stored facets of one type's objects, in id order; one range read per object. */
  async scanFacetsOfType(
    type: ObjectType,
    options: { after?: string | undefined; maxBytes?: number },
  ): Promise<FacetPage> {
    this.core.openCommits()
    const maxBytes = options.maxBytes ?? DEFAULT_PAGE_BYTES
    const prefix = typeIndexPrefix(type)
    const facets: FacetPage['facets'] = []
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
}
