// Merging two objects that are one real record, and undoing it. The object with the larger
// id (of the two groups' survivors) records the smaller in its core facet, with who decided
// and when; that document change is the merge, and it syncs as any other. Fields are not
// copied: a survivor is read with the fields only its merged objects have (views.ts), so
// undoing a merge leaves each object with exactly the fields it had.
import { ObjectSyncError } from '../../errors.ts'
import { CORE_FACET, type ObjectId } from '../../model/index.ts'
import { mergeFacetDoc } from '../facet-doc.ts'
import type { StoreCore } from './core.ts'

export class MergeEdits {
  constructor(private readonly core: StoreCore) {}

  /**
   * Makes `a` and `b` one object: both groups' survivors join, the smaller id stands for
   * them. Returns the survivor. Refused (INVALID_MERGE) for objects of different types.
   */
  async merge(a: ObjectId, b: ObjectId): Promise<ObjectId> {
    const types = await Promise.all([a, b].map((id) => this.typeOf(id)))
    if (types[0] !== types[1]) {
      throw new ObjectSyncError(
        'INVALID_MERGE',
        `a ${types[0]} and a ${types[1]} can't be one object`,
        { details: { a, b } },
      )
    }
    // Survivors are looked up before the lock; a merge recorded meanwhile (here, or from a
    // peer) would be overwritten, so the write checks under the lock and tries again.
    for (;;) {
      const { identities } = this.core
      const [first, second] = [identities.survivorOf(a), identities.survivorOf(b)]
      if (first === second) return first
      // A deleted record can't stand for a live one (nor take one in): restore it first.
      for (const [id, survivor] of [
        [a, first],
        [b, second],
      ] as const) {
        if (await this.isDeleted(survivor)) {
          throw new ObjectSyncError('INVALID_MERGE', `object ${id} is deleted`, {
            details: { a, b, deleted: id },
          })
        }
      }
      const [survivor, merged] = first < second ? [first, second] : [second, first]
      if (await this.record(merged, survivor)) {
        // The survivor reads differently now: what follows the feed looks at it again.
        await this.core.announce([survivor], undefined)
        this.core.log.info({ survivor, merged }, 'merged two objects into one')
        return survivor
      }
    }
  }

  /** Writes `merged` → `survivor`, unless `merged` was merged meanwhile (then false). */
  private async record(merged: ObjectId, survivor: ObjectId): Promise<boolean> {
    const core = this.core
    const commits = core.openCommits()
    return core.locks.run(merged, async () => {
      if (core.identities.targetsOf(merged).length > 0) return false
      const loaded = await core.loadExisting(merged, { allowDeleted: true })
      const coreFacet = loaded.facets.get(CORE_FACET)!
      // A survivor records no merge of its own (it has the smallest id of its group).
      const targets = [survivor]
      const next = core.signing.edit(coreFacet.doc, (doc) =>
        mergeFacetDoc(doc, { into: survivor }, core.stamp()),
      )
      await core.commitChanges(commits, merged, loaded, new Map([[CORE_FACET, next]]), {
        extraOps: core.identities.indexOps(merged, targets),
      })
      core.identities.set(merged, targets)
      return true
    })
  }

  /**
   * Undoes the merges `id` records: it stands alone again (with the objects merged into
   * it), on every instance once the change has synced. Returns the survivor it had.
   */
  async unmerge(id: ObjectId): Promise<ObjectId> {
    const core = this.core
    const commits = core.openCommits()
    const survivor = core.identities.survivorOf(id)
    if (core.identities.targetsOf(id).length === 0) {
      throw new ObjectSyncError('INVALID_MERGE', `object ${id} was not merged into another`, {
        details: { id },
      })
    }
    await core.locks.run(id, async () => {
      const loaded = await core.loadExisting(id, { allowDeleted: true })
      // Kept apart from what it was merged into: matching must not merge them again.
      const next = core.signing.edit(loaded.facets.get(CORE_FACET)!.doc, (doc) =>
        mergeFacetDoc(doc, { apartFrom: survivor }, core.stamp()),
      )
      await core.commitChanges(commits, id, loaded, new Map([[CORE_FACET, next]]), {
        extraOps: core.identities.indexOps(id, []),
      })
      core.identities.set(id, [])
    })
    await core.announce([survivor], undefined)
    core.log.info({ id, survivor }, 'undid a merge')
    return survivor
  }

  private isDeleted(id: ObjectId): Promise<boolean> {
    return this.core.locks.run(id, async () => {
      const loaded = await this.core.loadExisting(id, { allowDeleted: true })
      return loaded.facets.get(CORE_FACET)?.doc.deleted === true
    })
  }

  private async typeOf(id: ObjectId): Promise<string> {
    return this.core.locks.run(
      id,
      async () => (await this.core.loadExisting(id, { allowDeleted: true })).type,
    )
  }
}
