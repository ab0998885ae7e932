// Which objects are one: merges as data. An object merged into another records the other
// in its own core facet (`mergedInto`, always a smaller id), so the decision replicates
// with the document and every instance that holds it computes the same survivor: the
// smallest id of the objects joined by merges, whatever order they arrived in. Concurrent
// merges of one object into two others join all three; chains (A into B, B into C)
// resolve to the smallest.
//
// The index `g/<id>` (written in the same batch as the core facet that says so) lets a
// store open without reading every document; the groups are computed from it in memory:
// O(merged objects), small beside the store.
import type { ObjectId } from '../../model/index.ts'
import { mergeKey, MERGE_PREFIX, prefixEnd } from '../keys.ts'
import type { StorageAdapter, StorageOp } from '../storage.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class Identities {
  /** Merged object → the objects it records as merged into. */
  private readonly edges = new Map<ObjectId, readonly ObjectId[]>()
  /** Computed from the edges when first needed after a change. */
  private survivors: Map<ObjectId, ObjectId> | undefined
  private groups: Map<ObjectId, ObjectId[]> | undefined

  /** `changed` hears of every object whose merges `set` changed (the store's `merge` event). */
  constructor(private readonly changed: (object: ObjectId) => void = () => {}) {}

  async load(storage: StorageAdapter): Promise<void> {
    this.edges.clear()
    for await (const [key, value] of storage.range({
      gte: MERGE_PREFIX,
      lt: prefixEnd(MERGE_PREFIX),
    })) {
      const targets = decoder.decode(value).split(' ').filter(Boolean) as ObjectId[]
      if (targets.length > 0) this.edges.set(key.slice(MERGE_PREFIX.length) as ObjectId, targets)
    }
    this.invalidate()
  }

  /** The object that stands for `id`: the smallest id among the objects merged with it. */
  survivorOf(id: ObjectId): ObjectId {
    if (this.edges.size === 0) return id
    return this.computed().survivors.get(id) ?? id
  }

  /** The objects merged into the survivor `id` (not itself), in id order. */
  mergedInto(id: ObjectId): readonly ObjectId[] {
    if (this.edges.size === 0) return []
    return this.computed().groups.get(id) ?? []
  }

  /** Every object merged into another, as the index holds them now. */
  mergedObjects(): ObjectId[] {
    return [...this.edges.keys()]
  }

  /** What `object` records as merged into, as the index holds it. */
  targetsOf(object: ObjectId): readonly ObjectId[] {
    return this.edges.get(object) ?? []
  }

  /** The index write for `object` now recording `targets`; none when the index says so. */
  indexOps(object: ObjectId, targets: readonly string[]): StorageOp[] {
    if (sameList(this.targetsOf(object), targets)) return []
    return targets.length === 0
      ? [{ type: 'del', key: mergeKey(object) }]
      : [{ type: 'put', key: mergeKey(object), value: encoder.encode(targets.join(' ')) }]
  }

  /**
   * After the commit that wrote `indexOps`: the groups follow. A merge only adds edges,
   * so the groups computed already are joined in place (a first sync can merge tens of
   * thousands of objects, one at a time); an unmerge removes one, and they are computed
   * again when next needed.
   */
  set(object: ObjectId, targets: readonly string[]): void {
    const before = this.targetsOf(object)
    if (sameList(before, targets)) return
    const onlyAdded = before.every((target) => targets.includes(target))
    if (targets.length === 0) this.edges.delete(object)
    else this.edges.set(object, [...targets] as ObjectId[])
    if (!onlyAdded || this.survivors === undefined || this.groups === undefined) {
      this.invalidate()
    } else {
      for (const target of targets) this.join(object, target as ObjectId)
    }
    this.changed(object)
  }

  /** Joins the computed groups of `a` and `b` under the smaller survivor. */
  private join(a: ObjectId, b: ObjectId): void {
    const survivors = this.survivors!
    const groups = this.groups!
    const [ra, rb] = [survivors.get(a) ?? a, survivors.get(b) ?? b]
    if (ra === rb) return
    const [root, other] = ra < rb ? [ra, rb] : [rb, ra]
    const moving = [other, ...(groups.get(other) ?? [])]
    groups.delete(other)
    const group = groups.get(root) ?? []
    for (const id of moving) {
      survivors.set(id, root)
      group.push(id)
    }
    group.sort()
    groups.set(root, group)
  }

  private invalidate(): void {
    this.survivors = undefined
    this.groups = undefined
  }

  /** Union-find over the edges, each group's root its smallest id. */
  private computed(): { survivors: Map<ObjectId, ObjectId>; groups: Map<ObjectId, ObjectId[]> } {
    if (this.survivors !== undefined && this.groups !== undefined) {
      return { survivors: this.survivors, groups: this.groups }
    }
    const parent = new Map<ObjectId, ObjectId>()
    const find = (id: ObjectId): ObjectId => {
      let root = id
      while (parent.has(root) && parent.get(root) !== root) root = parent.get(root)!
      parent.set(id, root)
      return root
    }
    for (const [object, targets] of this.edges) {
      for (const target of targets) {
        const [a, b] = [find(object), find(target)]
        if (a !== b) {
          if (a < b) parent.set(b, a)
          else parent.set(a, b)
        }
      }
    }
    const survivors = new Map<ObjectId, ObjectId>()
    const groups = new Map<ObjectId, ObjectId[]>()
    for (const id of parent.keys()) {
      const root = find(id)
      if (root === id) continue
      survivors.set(id, root)
      const group = groups.get(root) ?? []
      group.push(id)
      groups.set(root, group)
    }
    for (const group of groups.values()) group.sort()
    this.survivors = survivors
    this.groups = groups
    return { survivors, groups }
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i])
}
