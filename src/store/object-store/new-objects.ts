// Objects created here: validated, given ids and stamps, their facets made (encoded and
// signed: new-facets.ts, on the store's worker thread for a large page) and written with
// their feed entries in one commit.
import { ObjectSyncError } from '../../errors.ts'
import {
  CORE_FACET,
  facetId,
  isObjectType,
  newObjectId,
  parseFacetId,
  validateNewObject,
  type FacetName,
  type FieldValue,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import type { FeedDraft } from '../commit-queue.ts'
import { encodeNewFacet, type WriteStamp } from '../facet-doc.ts'
import { typeIndexKey, snapshotKey } from '../keys.ts'
import type { StorageOp } from '../storage.ts'
import type { StoreCore } from './core.ts'
import { syncStateOps } from './feed.ts'
import type { NewFacet } from './new-facets.ts'
import type { EditOptions, NewObject, StoredObject } from './types.ts'
import { createdObject } from './views.ts'

const EMPTY = new Uint8Array(0)

/** Sync-state entries to write with objects being created, made from the objects. */
export type SyncStateAlongside = (
  made: readonly (StoredObject | ObjectSyncError)[],
) => readonly (readonly [string, Uint8Array | undefined])[]

/** A new object, validated and split into facets (NewObjects.planCreate). */
interface PlannedObject {
  id: ObjectId
  type: ObjectType
  valid: ReturnType<typeof validateNewObject>
  stamp: WriteStamp
  options: EditOptions
  facets: NewFacet[]
}

export class NewObjects {
  constructor(private readonly core: StoreCore) {}

  async create(input: NewObject, options: EditOptions): Promise<StoredObject> {
    const commits = this.core.openCommits()
    const plan = await this.planCreate(input, options)
    const made = this.assemble(plan, await this.encodeHere(plan.facets))
    // The new documents are not loaded: most created objects (an import, a first sync)
    // are not read again soon, and every live document costs the garbage collector.
    await this.core.locks.run(made.object.id, () => commits.submit(made.ops, made.feed))
    return made.object
  }

  /**
   * Creates many objects in one commit: each is the object made, or the error that refused
   * it (INVALID_OBJECT; BLOB_NOT_FOUND for a file whose content is not held here), which
   * leaves the others made. Their ids are new, so no one else can hold them yet: no lock
   * is taken.
   */
  async createMany(
    items: readonly { input: NewObject; options: EditOptions }[],
    alongside?: SyncStateAlongside,
    /** Committed once this has settled (made meanwhile): pages taken in keep their order. */
    after?: Promise<unknown>,
  ): Promise<(StoredObject | ObjectSyncError)[]> {
    const core = this.core
    const commits = core.openCommits()
    const results: (StoredObject | ObjectSyncError)[] = []
    const ops: StorageOp[] = []
    const feed: FeedDraft[] = []
    const plans = await Promise.allSettled(
      items.map(({ input, options }) => this.planCreate(input, options)),
    )
    // Their facets made together, so that their changes are signed together
    // (store/authorship.ts): on the store's worker thread for a large page.
    const facets = plans.flatMap((plan) => (plan.status === 'fulfilled' ? plan.value.facets : []))
    const bytes = await core.worker.encode(facets, core.signing.writer, () =>
      this.encodeHere(facets),
    )
    let next = 0
    for (const plan of plans) {
      if (plan.status === 'fulfilled') {
        const count = plan.value.facets.length
        const made = this.assemble(plan.value, bytes.slice(next, next + count))
        next += count
        ops.push(...made.ops)
        feed.push(...made.feed)
        results.push(made.object)
      } else if (plan.reason instanceof ObjectSyncError) {
        results.push(plan.reason)
      } else {
        throw plan.reason
      }
    }
    // What the caller keeps about the new objects is written in the same commit, so that
    // a crash can't leave objects that nothing links to (taken in again as new at start).
    ops.push(...syncStateOps(alongside?.(results) ?? []))
    await after?.catch(() => undefined) // its failure is its caller's
    if (ops.length > 0) await commits.submit(ops, feed)
    return results
  }

  /** A new object validated, given its id and stamp, and split into facets; nothing made yet. */
  private async planCreate(input: NewObject, options: EditOptions): Promise<PlannedObject> {
    const core = this.core
    if (!isObjectType(input.type)) {
      throw new ObjectSyncError(
        'INVALID_OBJECT',
        `type: expected one of person, organization, transaction, file`,
        { details: { path: 'type' } },
      )
    }
    const type = input.type
    const valid = validateNewObject(type, { fields: input.fields, custom: input.custom })
    // A file's size is filled in from its content, which must be held here.
    if (type === 'file') await checkFileContent(this.core, valid.fields)
    const id = newObjectId(core.now())
    const stamp = core.stamp(options.at)
    const contents = new Map<FacetName, Record<string, FieldValue>>([[CORE_FACET, valid.fields]])
    for (const [name, value] of Object.entries(valid.custom ?? {})) {
      const facet = core.facetOfCustomField(name)
      contents.set(facet, { ...contents.get(facet), [name]: value })
    }
    const facets = [...contents].map(([facet, fields]) => ({
      facet: facetId(id, facet),
      type,
      fields,
      stamp,
    }))
    return { id, type, valid, stamp, options, facets }
  }

  /** New facets made on this thread, signed as one batch. */
  private encodeHere(facets: readonly NewFacet[]): Promise<Uint8Array[]> {
    const { signing, actor } = this.core
    return Promise.all(
      facets.map(({ facet, type, fields, stamp }) =>
        signing.newFacet(facet, encodeNewFacet(type, fields, stamp, actor)),
      ),
    )
  }

  /** A planned object's documents (its facets' bytes, in order) and feed entries. */
  private assemble(
    plan: PlannedObject,
    bytes: readonly Uint8Array[],
  ): { object: StoredObject; ops: StorageOp[]; feed: FeedDraft[] } {
    const { id, type, valid, stamp, options } = plan
    const ops: StorageOp[] = [{ type: 'put', key: typeIndexKey(type, id), value: EMPTY }]
    const feed: FeedDraft[] = []
    plan.facets.forEach(({ facet }, index) => {
      ops.push({
        type: 'put',
        key: snapshotKey(id, parseFacetId(facet)!.facet),
        value: bytes[index]!,
      })
      feed.push({ facet, object: id, type, ...this.core.fromOf(options) })
    })
    return { object: createdObject(id, type, valid, stamp), ops, feed }
  }
}

/**
 * A file written here names content held here (stored first, e.g. with POST /v1/blobs):
 * its size is the content's, filled in when not given.
 */
export async function checkFileContent(
  core: StoreCore,
  fields: Record<string, FieldValue | null>,
): Promise<void> {
  const sha = fields.sha256
  // Content taken away (a row's content set to NULL): its size goes with it.
  if (sha === null && fields.size === undefined) fields.size = null
  if (typeof sha !== 'string') return
  const manifest = await core.blobs.manifest(sha)
  if (manifest === undefined) {
    throw new ObjectSyncError(
      'BLOB_NOT_FOUND',
      `sha256: no content ${sha} is held here; store the file's content first`,
      { details: { path: 'sha256', sha256: sha } },
    )
  }
  if (fields.size === undefined || fields.size === null) fields.size = manifest.size
  else if (fields.size !== manifest.size) {
    throw new ObjectSyncError(
      'INVALID_OBJECT',
      `size: ${JSON.stringify(fields.size)} is not the size of the content ${sha} (${manifest.size} bytes)`,
      { details: { path: 'size' } },
    )
  }
}
