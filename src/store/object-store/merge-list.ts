// The merges the store holds, newest first: each object merged into another (the `g/`
// index, in memory in Identities) with who decided it and when (`mergedBy` in its core
// facet). Because both are data in the store, the list holds merges learned from peers and
// is the same after a restart.
//
// The index has no stamps, so a listing reads each merged object's core facet, once: what
// was read is kept until a commit of that object appears in the feed. Reads and commits of
// an object both hold its lock, and the feed event fires before the committing holder goes
// on, so a kept stamp is never older than the stored document.
import { CORE_FACET, type ObjectId, type ObjectType } from '../../model/index.ts'
import { readFacetBytes, type WriteStamp } from '../facet-doc.ts'
import { objectPrefix, prefixEnd } from '../keys.ts'
import type { StoreCore } from './core.ts'
import { addFacetPart, joinFacetParts, type FacetParts } from './facet-parts.ts'
import type { MergeRecord } from './types.ts'

/** What a merged object's core facet says of its merge. */
interface Decided {
  type: ObjectType
  stamp: WriteStamp | undefined
}

export class MergeList {
  /** Merged object → what its stored core facet says; dropped when the object is committed. */
  private readonly decided = new Map<ObjectId, Decided>()

  constructor(private readonly core: StoreCore) {
    core.events.on('feed', (entries) => {
      for (const entry of entries) this.decided.delete(entry.object)
    })
  }

  /** The `limit` merges decided last (by their stamps), newest first. */
  async list(limit: number): Promise<MergeRecord[]> {
    const { identities } = this.core
    this.core.openCommits()
    const records: MergeRecord[] = []
    for (const object of identities.mergedObjects()) {
      const decided = this.decided.get(object) ?? (await this.read(object))
      // Unmerged while the others were read: no longer a merge.
      if (decided === undefined || identities.targetsOf(object).length === 0) continue
      records.push({
        object,
        type: decided.type,
        into: identities.survivorOf(object),
        ...(decided.stamp === undefined ? {} : { decided: decided.stamp }),
      })
    }
    return records.sort(newestFirst).slice(0, limit)
  }

  /** Reads what the object's stored core facet says, and keeps it. */
  private read(object: ObjectId): Promise<Decided | undefined> {
    const core = this.core
    return core.locks.run(object, async () => {
      // Read from the stored bytes, not through the cache of loaded objects: a listing
      // must not push the objects being worked on out of it.
      const parts: FacetParts = { chunks: [] }
      const prefix = `${objectPrefix(object)}${CORE_FACET}/`
      for await (const [key, value] of core.storage.range({ gte: prefix, lt: prefixEnd(prefix) })) {
        addFacetPart(parts, key, value)
      }
      const content =
        parts.snapshot === undefined && parts.chunks.length === 0
          ? undefined
          : readFacetBytes(joinFacetParts(parts), { stored: true })
      if (content === undefined) {
        core.log.warn({ object }, 'a merged object could not be read; left out of the merges')
        return undefined
      }
      const decided = { type: content.type as ObjectType, stamp: content.mergedBy }
      this.decided.set(object, decided)
      return decided
    })
  }
}

/** Later stamps first; merges whose document does not say when, last; then by id. */
function newestFirst(a: MergeRecord, b: MergeRecord): number {
  const [atA, atB] = [a.decided?.at ?? -1, b.decided?.at ?? -1]
  if (atA !== atB) return atB - atA
  return a.object < b.object ? 1 : a.object > b.object ? -1 : 0
}
