// Objects just stored as received — a first sync's new objects, each one facet still in
// its created form — kept as read on receipt, so that whoever reads one next (the
// projection into the local system, right behind the receiver) gets it without reading
// and decoding its bytes again. Bounded (the oldest go first); an object leaves when it
// is read, and as soon as anything else is committed for it (all of an object's writes
// are made under its lock, so none can slip between its commit and `add`).
import type { FacetName, ObjectId } from '../../model/index.ts'
import type { FeedEntry } from '../commit-queue.ts'
import type { EncodedFacet } from '../facet-doc.ts'

export interface ReceivedObject {
  facet: FacetName
  content: EncodedFacet
}

export class ReceivedObjects {
  private readonly objects = new Map<ObjectId, ReceivedObject>()

  /** Keeps none until `keep` says how many (a store with no reader behind it keeps none). */
  constructor(private limit = 0) {}

  /** Keeps up to `limit` objects from now on. */
  keep(limit: number): void {
    this.limit = limit
  }

  /** The object was stored with this one facet; call under its lock, after the commit. */
  add(id: ObjectId, received: ReceivedObject): void {
    if (this.limit === 0) return
    this.objects.set(id, received)
    if (this.objects.size <= this.limit) return
    // The oldest tenth at once: a Map's first key after many deletes is slow to find.
    let excess = this.objects.size - Math.floor(this.limit * 0.9)
    for (const old of this.objects.keys()) {
      if (excess-- <= 0) break
      this.objects.delete(old)
    }
  }

  /** The object as received, if it is still so and kept; it is not kept after. */
  take(id: ObjectId): ReceivedObject | undefined {
    const received = this.objects.get(id)
    if (received !== undefined) this.objects.delete(id)
    return received
  }

  /** Something was committed for these objects: what was kept of them is out of date. */
  changed(entries: readonly FeedEntry[]): void {
    if (this.objects.size === 0) return
    for (const entry of entries) this.objects.delete(entry.object)
  }

  clear(): void {
    this.objects.clear()
  }
}
