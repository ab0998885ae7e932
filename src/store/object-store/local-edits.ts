// Edits made on this instance: create, update, delete (a tombstone, so the delete can
// sync) and touch. Each writes its documents and feed entries in one commit,
// stamped with this instance and the time, under the object's lock.
import * as A from '@automerge/automerge'
import type { ObjectSyncError } from '../../errors.ts'
import {
  CORE_FACET,
  facetId,
  isObjectId,
  validatePatch,
  type FacetId,
  type FacetName,
  type FieldValue,
  type InstanceId,
  type ObjectId,
  type ObjectPatch,
  type ObjectType,
} from '../../model/index.ts'
import type { FeedDraft } from '../commit-queue.ts'
import { resolveFacet } from '../conflicts.ts'
import {
  changeFacetDoc,
  encodeNewFacet,
  tombstoneFacetDoc,
  type Doc,
  type FacetDoc,
  type WriteStamp,
} from '../facet-doc.ts'
import { chunkKey, snapshotKey } from '../keys.ts'
import type { StorageOp } from '../storage.ts'
import type { StoreCore } from './core.ts'
import { NewObjects, checkFileContent, type SyncStateAlongside } from './new-objects.ts'
export type { SyncStateAlongside } from './new-objects.ts'
import type { LoadedObject, StoredParts } from './loaded-object.ts'
import { withChunk } from './recent-parts.ts'
import type { EditOptions, NewObject, StoredObject } from './types.ts'
import { knownLines, linesOf, storedObjectFrom, toStoredObject } from './views.ts'
import { cloneLine, readLinearFacet, type LinearFacet } from '../facet-doc/linear.ts'
import { appendLinearEdit, prepareLinearEdit } from '../facet-doc/linear-edit.ts'

/** A change of some fields; `null` clears one. */
export interface ObjectEdit {
  fields?: Record<string, FieldValue | null>
  custom?: Record<string, unknown>
}

export class LocalEdits {
  private readonly created: NewObjects

  constructor(private readonly core: StoreCore) {
    this.created = new NewObjects(core)
  }

  create(input: NewObject, options: EditOptions): Promise<StoredObject> {
    return this.created.create(input, options)
  }

  /** See NewObjects.createMany. */
  createMany(
    items: readonly { input: NewObject; options: EditOptions }[],
    alongside?: SyncStateAlongside,
    after?: Promise<unknown>,
  ): Promise<(StoredObject | ObjectSyncError)[]> {
    return this.created.createMany(items, alongside, after)
  }

  /**
   * Changes some fields and returns the object as it now is. `force` (a field or custom
   * field name) is written even if its value is unchanged: settling a conflict writes
   * the chosen value anew.
   */
  async update(
    id: ObjectId,
    patch: ObjectEdit,
    options: EditOptions,
    force?: string,
  ): Promise<StoredObject> {
    const core = this.core
    const forced = new Set(force === undefined ? [] : [force])
    const commits = core.openCommits()
    return core.locks.run(id, async () => {
      let parts: StoredParts | undefined
      if (!core.cache.has(id) && isObjectId(id)) {
        parts = await core.readParts(id)
        const edited = await this.updateLine(id, parts, patch, options, forced)
        if (edited !== undefined) return edited
      }
      const loaded = await core.loadExisting(id, {}, parts)
      const valid = validatePatch(loaded.type, patch)
      if (loaded.type === 'file' && valid.fields !== undefined) {
        await this.checkFileEdit(loaded, valid.fields)
      }
      const stamp = core.stamp(options.at)
      const changed = new Map<FacetName, Doc>()
      const fieldsOfFacet = new Map(
        [...loaded.facets].map(([facet, state]) => [facet, state.doc.fields ?? {}]),
      )
      for (const [facet, facetPatch] of editsByFacet(core, fieldsOfFacet, valid)) {
        const state = loaded.facets.get(facet)
        const next =
          state === undefined
            ? await this.newFacetDoc(
                facetId(id, facet),
                loaded.type,
                withoutNulls(facetPatch),
                stamp,
              )
            : core.signing.edit(state.doc, (doc) => changeFacetDoc(doc, facetPatch, stamp, forced))
        if (next !== undefined && (state !== undefined || Object.keys(next.fields).length > 0)) {
          changed.set(facet, next)
        } else if (next !== undefined) A.free(next)
      }
      await core.commitChanges(commits, id, loaded, changed, core.fromOf(options))
      return toStoredObject(id, loaded, core.sourcesOfTruth)
    })
  }

  /**
   * update() of an object whose facets are all lines of changes (facet-doc/linear.ts),
   * not loaded: each changed facet gets the change Automerge would write, appended as a
   * chunk. Undefined, with nothing written, when the object or the edit leaves that form
   * (or a facet is due to be compacted): the caller then loads the object.
   */
  private async updateLine(
    id: ObjectId,
    parts: StoredParts,
    patch: ObjectEdit,
    options: EditOptions,
    forced: ReadonlySet<string>,
  ): Promise<StoredObject | undefined> {
    const core = this.core
    if ([...parts.values()].some((part) => part.chunks.length + 1 >= core.compactAfter)) {
      return undefined
    }
    const read = linesOrNothing(parts)
    const facets =
      read === undefined
        ? undefined
        : new Map([...read].map(([facet, line]) => [facet, cloneLine(line)]))
    const type = facets?.get(CORE_FACET)?.type
    // A file's edits check its content: left to the general path.
    if (facets === undefined || type === undefined || type === 'file') return undefined
    const valid = validatePatch(type, patch)
    const stamp = core.stamp(options.at)
    const ops: StorageOp[] = []
    const feed: FeedDraft[] = []
    let written = parts
    const fieldsOfFacet = new Map([...facets].map(([facet, read]) => [facet, read.fields]))
    for (const [facet, facetPatch] of editsByFacet(core, fieldsOfFacet, valid)) {
      const read = facets.get(facet)
      if (read === undefined) {
        const fields = withoutNulls(facetPatch)
        if (Object.keys(fields).length === 0) continue
        const bytes = await core.signing.newFacet(
          facetId(id, facet),
          encodeNewFacet(type, fields, stamp, core.actor),
        )
        const made = readLinearFacet(bytes, { storedUpTo: bytes.length })
        if (made === undefined) return undefined
        facets.set(facet, made)
        ops.push({ type: 'put', key: snapshotKey(id, facet), value: bytes })
        written = new Map(written).set(facet, { snapshot: bytes, chunks: [], last: 0 })
      } else {
        const edit = prepareLinearEdit(read, facetPatch, stamp, core.actor, forced)
        if (edit === undefined) return undefined
        if (edit === 'unchanged') continue
        const change = await core.signing.change(facetId(id, facet), edit.bytes)
        if (!appendLinearEdit(read, edit, change)) return undefined
        const next = parts.get(facet)!.last + 1
        ops.push({ type: 'put', key: chunkKey(id, facet, next), value: change })
        written = withChunk(written, facet, next, change)
      }
      feed.push({ facet: facetId(id, facet), object: id, type, ...core.fromOf(options) })
    }
    if (ops.length > 0) {
      await core.openCommits().submit(ops, feed)
      core.recentParts.set(id, written)
      knownLines(written, facets)
    }
    return storedObjectFrom(id, type, facets)
  }

  /** A new facet of an object being edited, as a loaded document, its change signed. */
  private async newFacetDoc(
    facet: FacetId,
    type: ObjectType,
    fields: Record<string, FieldValue>,
    stamp: WriteStamp,
  ): Promise<Doc> {
    const bytes = encodeNewFacet(type, fields, stamp, this.core.actor)
    return A.load<FacetDoc>(await this.core.signing.newFacet(facet, bytes), {
      actor: this.core.actor,
    })
  }

  /** Tombstones the object: it stays, marked deleted, so the delete can sync. */
  async delete(id: ObjectId, options: EditOptions): Promise<void> {
    const core = this.core
    const commits = core.openCommits()
    await core.locks.run(id, async () => {
      const loaded = await core.loadExisting(id, { allowDeleted: true })
      const coreFacet = loaded.facets.get(CORE_FACET)
      if (coreFacet === undefined || coreFacet.doc.deleted === true) return
      const next = core.signing.edit(coreFacet.doc, (doc) =>
        tombstoneFacetDoc(doc, core.stamp(options.at)),
      )
      await core.commitChanges(
        commits,
        id,
        loaded,
        new Map([[CORE_FACET, next]]),
        core.fromOf(options),
      )
    })
  }

  /** Appends a feed entry for the object's core without changing it (see ObjectStore.touch). */
  touch(id: ObjectId, from: InstanceId | undefined): Promise<void> {
    return this.core.announce([id], from, { touch: true })
  }

  /** A file's new content must be held here; a new size alone must be its content's. */
  private async checkFileEdit(
    loaded: LoadedObject,
    fields: Record<string, FieldValue | null>,
  ): Promise<void> {
    const { sha256, size } = fields
    if (sha256 === undefined && typeof size === 'number') {
      const current = resolveFacet(loaded.facets.get(CORE_FACET)!.doc).content.fields.sha256
      if (typeof current === 'string') await checkFileContent(this.core, { sha256: current, size })
    } else {
      await checkFileContent(this.core, fields)
    }
  }
}

function withoutNulls(patch: Record<string, FieldValue | null>): Record<string, FieldValue> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null)) as Record<
    string,
    FieldValue
  >
}

/**
 * The patch split by the facet each field lives in (`fieldsOf`: the fields each stored
 * facet holds). A custom field that moved group in the config is removed from its old
 * facet.
 */
function editsByFacet(
  core: StoreCore,
  fieldsOf: ReadonlyMap<FacetName, Record<string, unknown>>,
  valid: ObjectPatch,
): Map<FacetName, Record<string, FieldValue | null>> {
  const edits = new Map<FacetName, Record<string, FieldValue | null>>()
  if (valid.fields !== undefined) edits.set(CORE_FACET, valid.fields)
  for (const [name, value] of Object.entries(valid.custom ?? {})) {
    const home = core.facetOfCustomField(name)
    edits.set(home, { ...edits.get(home), [name]: value })
    for (const [facet, fields] of fieldsOf) {
      if (facet !== home && facet !== CORE_FACET && name in fields) {
        edits.set(facet, { ...edits.get(facet), [name]: null })
      }
    }
  }
  return edits
}

/** The facets read as lines (see linesOf); undefined when not, or when they don't decode. */
function linesOrNothing(parts: StoredParts): ReadonlyMap<FacetName, LinearFacet> | undefined {
  try {
    return linesOf(parts)
  } catch {
    return undefined // loaded instead, which reports what is wrong
  }
}
