// The conflict inbox: objects marked when a merge left concurrent values of a field, or
// met a delete on one instance with an edit on another. Listing it reads each marked
// object (and unmarks what was settled since); settling writes the chosen value as a new
// edit here, which every instance then sees as later than all the concurrent ones.
import { ObjectSyncError, isObjectSyncError } from '../../errors.ts'
import { CORE_FACET, type ObjectId, type ObjectType } from '../../model/index.ts'
import { deleteConflict, type ConflictValue } from '../conflicts.ts'
import { readFacetDoc, restoreFacetDoc } from '../facet-doc.ts'
import { CONFLICT_PREFIX, conflictKey, deleteConflictKey, prefixEnd } from '../keys.ts'
import type { StorageOp } from '../storage.ts'
import type { StoreCore } from './core.ts'
import type { LocalEdits } from './local-edits.ts'
import type { ConflictEntry, StoredObject } from './types.ts'
import { conflictsOf, toStoredObject } from './views.ts'

// Object ids are ULIDs: 26 characters, then `/deleted` for the mark of a delete.
const OBJECT_ID_LENGTH = 26

/** Which marks an object has in the inbox. */
interface Marks {
  fields: boolean
  deleted: boolean
}

/** An object's conflicts as read now; `corrupt` when its documents do not load. */
interface ObjectConflicts {
  fields: ConflictEntry[]
  deleted: { type: ObjectType; winner: ConflictValue; losers: ConflictValue[] } | undefined
  corrupt: boolean
}

export class ConflictInbox {
  constructor(
    private readonly core: StoreCore,
    private readonly edits: LocalEdits,
  ) {}

  async listConflicts(): Promise<ConflictEntry[]> {
    const core = this.core
    const commits = core.openCommits()
    const entries: ConflictEntry[] = []
    for (const [id, mark] of await this.readMarks()) {
      const { fields, deleted, corrupt } = await core.locks.run(id, () =>
        this.conflictsOf(id, mark),
      )
      if (corrupt) continue
      // Settled since (by a later edit, here or elsewhere): the object leaves the inbox.
      const settled: StorageOp[] = []
      if (mark.fields && fields.length === 0) settled.push({ type: 'del', key: conflictKey(id) })
      if (mark.deleted && deleted === undefined)
        settled.push({ type: 'del', key: deleteConflictKey(id) })
      if (settled.length > 0) {
        await commits.submit(settled, [])
        core.conflictsChanged(id)
      }
      if (deleted !== undefined) {
        entries.push({
          object: id,
          type: deleted.type,
          field: 'deleted',
          winner: deleted.winner,
          losers: deleted.losers,
        })
      }
      entries.push(...fields)
    }
    return entries
  }

  async resolveConflict(
    id: ObjectId,
    field: string,
    choice: { by: string; at: number },
  ): Promise<StoredObject> {
    const conflict = (await this.listConflicts()).find(
      (entry) => entry.object === id && entry.field === field,
    )
    const chosen = [conflict?.winner, ...(conflict?.losers ?? [])].find(
      (candidate) => candidate?.by === choice.by && candidate.at === choice.at,
    )
    if (chosen === undefined) {
      throw new ObjectSyncError(
        'CONFLICT_NOT_FOUND',
        `object ${id} has no conflict on ${field} with a value written by ${choice.by} at ${choice.at}`,
        { details: { id, field } },
      )
    }
    if (field === 'deleted') return this.settleDelete(id, chosen.value === true)
    const custom = field.startsWith('custom.') ? field.slice('custom.'.length) : undefined
    const value = chosen.value ?? null
    const patch =
      custom === undefined ? { fields: { [field]: value } } : { custom: { [custom]: value } }
    const resolved = await this.edits.update(id, patch, {}, custom ?? field)
    await this.listConflicts()
    return resolved
  }

  /** The marked objects, in id order, from one range read of the inbox. */
  private async readMarks(): Promise<Map<ObjectId, Marks>> {
    const marked = new Map<ObjectId, Marks>()
    for await (const [key] of this.core.storage.range({
      gte: CONFLICT_PREFIX,
      lt: prefixEnd(CONFLICT_PREFIX),
    })) {
      const rest = key.slice(CONFLICT_PREFIX.length)
      const id = rest.slice(0, OBJECT_ID_LENGTH) as ObjectId
      const mark = marked.get(id) ?? { fields: false, deleted: false }
      if (rest.endsWith('/deleted')) mark.deleted = true
      else mark.fields = true
      marked.set(id, mark)
    }
    return marked
  }

  /** Call under the object's lock. */
  private async conflictsOf(id: ObjectId, mark: Marks): Promise<ObjectConflicts> {
    // One corrupt object must not hide every other conflict: it is skipped (load logged
    // it) and keeps its place in the inbox.
    const loaded = await this.core.load(id).catch((error: unknown) => {
      if (!isObjectSyncError(error, 'DOCUMENT_CORRUPT')) throw error
      return 'corrupt' as const
    })
    if (loaded === 'corrupt') return { fields: [], deleted: undefined, corrupt: true }
    if (loaded === undefined) return { fields: [], deleted: undefined, corrupt: false }
    const core = loaded.facets.get(CORE_FACET)
    const deletion =
      mark.deleted && core !== undefined ? deleteConflict(readFacetDoc(core.doc)) : undefined
    return {
      fields: conflictsOf(id, loaded, this.core.sourcesOfTruth),
      deleted: deletion && { ...deletion, type: loaded.type },
      corrupt: false,
    }
  }

  /** Keeps the delete (dismissing the edit) or restores the object with its fields. */
  private async settleDelete(id: ObjectId, keepDeleted: boolean): Promise<StoredObject> {
    const core = this.core
    const commits = core.openCommits()
    return core.locks.run(id, async () => {
      const loaded = await core.loadExisting(id, { allowDeleted: true })
      const dismiss: StorageOp[] = [{ type: 'del', key: deleteConflictKey(id) }]
      const coreFacet = loaded.facets.get(CORE_FACET)
      if (keepDeleted || coreFacet === undefined) await commits.submit(dismiss, [])
      else {
        const restored = core.signing.edit(coreFacet.doc, (doc) =>
          restoreFacetDoc(doc, core.stamp()),
        )
        await core.commitChanges(commits, id, loaded, new Map([[CORE_FACET, restored]]), {
          extraOps: dismiss,
        })
      }
      core.conflictsChanged(id)
      return toStoredObject(id, loaded, core.sourcesOfTruth)
    })
  }
}
