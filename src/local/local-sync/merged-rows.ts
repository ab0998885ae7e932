// Rows after merges: what projecting does when objects become one. The records an object
// names are written first (so a reference names a row), a record whose object was merged
// stands for the survivor, a second row of one record that this daemon wrote goes, and
// rows that named it, or that it wrote for an arriving object now known to be a local
// record, are written again or merged. Carried out for the projector, which hands in how
// to execute a projection.
import { fieldSpec, type InstanceId, type ObjectId, type ObjectType } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import type { EntityMapping } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'
import { decide, usersRowsOf, type Projection } from './projection.ts'
import { localState } from './state-keys.ts'
import type { RowWriter } from './row-writer.ts'
import type { RowSnapshot } from './row-snapshot.ts'

export interface MergedRowsParts {
  writer: RowWriter
  execute: (projection: Projection) => Promise<void>
  /** Ingest's `takeInto`: a row's edits since `seen`, taken in as edits of another object. */
  takeInto: (
    entity: EntityMapping,
    key: string,
    objectId: ObjectId,
    seen: RowSnapshot | undefined,
  ) => Promise<void>
}

export class MergedRows {
  /** Objects whose references are being written first, in the chain now running. */
  private readonly following = new Set<ObjectId>()
  /** Objects whose rows this daemon wrote for them (imports), by an object they name. */
  private readonly importedReferrers = new Map<ObjectId, Set<ObjectId>>()

  constructor(
    private readonly core: LocalSyncCore,
    private readonly parts: MergedRowsParts,
  ) {}

  /** Notes that the row written for `object` (an import) names other objects. */
  imported(object: StoredObject): void {
    for (const [field, value] of Object.entries(object.fields)) {
      if (typeof value !== 'string' || fieldSpec(object.type, field)?.kind !== 'objectId') continue
      const set = this.importedReferrers.get(value as ObjectId) ?? new Set()
      set.add(object.id)
      this.importedReferrers.set(value as ObjectId, set)
    }
  }

  /**
   * After `id` became one with others: rows written for arriving objects that name any of
   * them are matched again (a donation imported before its person was merged).
   */
  async merged(id: ObjectId, from: InstanceId | undefined): Promise<void> {
    for (const member of this.core.store.groupOf(id)) {
      for (const referrer of this.importedReferrers.get(member) ?? []) {
        const object = await this.core.store.get(referrer)
        if (object === undefined) continue
        await this.rematch(object)
        await this.parts.execute(await decide(this.core, referrer, from))
      }
    }
  }

  /**
   * Writes first the records an object names (a donation's person) that have no row here
   * yet, so its reference column names a row instead of being left empty: objects arrive
   * in any order. References are one level deep per type (transaction → person →
   * organization), so this ends.
   */
  async projectReferenced(object: StoredObject, from: InstanceId | undefined): Promise<boolean> {
    // References may form a cycle (a peer's persons naming each other): each object is
    // followed once per chain.
    if (this.following.has(object.id)) return false
    this.following.add(object.id)
    try {
      const refs = this.core.links.resolver()
      let wrote = false
      for (const [name, value] of Object.entries(object.fields)) {
        if (typeof value !== 'string' || fieldSpec(object.type, name)?.kind !== 'objectId') continue
        if (value === object.id || this.following.has(value as ObjectId)) continue
        if (refs.toLocal(value) !== undefined) continue
        const projection = await decide(this.core, value as ObjectId, from)
        if (
          projection.kind === 'import' ||
          projection.kind === 'link' ||
          projection.kind === 'relink'
        ) {
          await this.parts.execute(projection)
          // Only a row written now counts (a file waiting for its content has none yet).
          if (this.core.links.resolver().toLocal(value) !== undefined) wrote = true
        }
      }
      return wrote
    } finally {
      this.following.delete(object.id)
    }
  }

  /**
   * A row this daemon wrote for an arriving object (its key is the object's id) may be a
   * local record after all, now that what it names was merged (a donation imported
   * before its person and the local one became one): matched again, and merged if one
   * local record is it. The duplicate row then goes (drop-duplicate).
   */
  async rematch(object: StoredObject): Promise<void> {
    const { links, matches, store } = this.core
    const own = links.keyOf(object.id)
    if (own === undefined || !links.insertedFor(object.id, own)) return
    const current = await store.get(object.id)
    if (current === undefined || current.mergedInto !== undefined) return
    const group = new Set(store.groupOf(object.id))
    const linked = matches
      .find(current.type, current.fields)
      .map((candidate) => ({ key: candidate.key, id: links.objectOf(current.type, candidate.key) }))
      .filter((candidate) => candidate.id !== undefined && !group.has(candidate.id))
      .filter((candidate) => !links.insertedFor(candidate.id!, candidate.key))
    const live = []
    for (const candidate of linked) {
      if ((await store.get(candidate.id!))?.deleted === false) live.push(candidate)
    }
    // Merged only: both rows stay linked, so deciding next finds the two and removes the
    // one this daemon wrote (drop-duplicate), keeping the users' row and its edits.
    if (live.length === 1) await store.merge(object.id, live[0]!.id!)
  }

  /**
   * Removes the daemon's own row of a record that has two here, then projects the object
   * again. What someone changed in the row since the daemon wrote it is taken in first, as
   * an edit of the record's object. Unlinked (and noted as dropping) before it is removed:
   * a removed row still linked would be taken in as a local delete of its object, and a
   * crash in between finishes the removal at start (`finishDrops`).
   */
  async dropDuplicate(projection: Extract<Projection, { kind: 'drop-duplicate' }>): Promise<void> {
    const { connector, links, log, store } = this.core
    const { entity, key, drop, keep, id, from } = projection
    const seen = (await links.read(drop))?.seen
    await this.parts.takeInto(entity, key, store.survivorOf(keep.id), seen)
    await links.unlinkToDrop(drop, entity.type, key)
    // No longer a record to match (it may be removed only later: see finishDrops).
    this.core.matches.remove(entity.type, key)
    await connector.remove(entity, key)
    await links.dropped(entity.type, key)
    log.info(
      { table: entity.table, removed: key, kept: keep.key },
      'one record in two rows after a merge: removed the row this daemon had written',
    )
    // The row kept first: it comes to stand for the survivor (relink) before the survivor
    // is decided, which would otherwise find no row and write one.
    if (keep.id !== id) await this.parts.execute(await decide(this.core, keep.id, from))
    await this.parts.execute(await decide(this.core, id, from))
    await this.rewriteReferencesTo(drop, from)
  }

  /**
   * Removes the rows left unlinked to be removed (by a stop, a crash or a failed remove):
   * at start and at housekeeping. One that fails again waits for the next time.
   */
  async finishDrops(): Promise<void> {
    const { connector, links, log, mapping } = this.core
    for (const { type, key } of links.droppingRows()) {
      this.core.matches.remove(type, key)
      const entity = mapping.get(type)
      try {
        if (entity !== undefined) await connector.remove(entity, key)
        await links.dropped(type, key)
      } catch (error) {
        log.error({ type, key, err: error }, 'could not remove the second row of a record')
      }
    }
  }

  /**
   * Rows that name a removed row (a donation of a person whose second row went) are
   * written again, naming the record's row that stayed. Reads every object of the types
   * that hold references: this follows only a race's duplicate, which is rare.
   */
  async rewriteReferencesTo(dropped: ObjectId, from: InstanceId | undefined): Promise<void> {
    const { store } = this.core
    const group = new Set(store.groupOf(dropped))
    for (const type of this.core.mapping.keys()) {
      let after: string | undefined
      do {
        const page = await store.list(type, {
          includeMerged: true,
          limit: 1000,
          ...(after === undefined ? {} : { after }),
        })
        for (const object of page.items) {
          const names = Object.entries(object.fields).some(
            ([field, value]) =>
              typeof value === 'string' &&
              fieldSpec(type, field)?.kind === 'objectId' &&
              group.has(value as ObjectId),
          )
          if (names && this.core.links.keyOf(object.id) !== undefined) {
            await this.rematch(object)
            await this.parts.execute(await decide(this.core, object.id, from))
          }
        }
        after = page.next
      } while (after !== undefined)
    }
  }

  /**
   * Two rows or more that the local system's users made stand for objects of one merged
   * group: the daemon removes neither, a person says which is the record (the others go)
   * or that they are apart (the merge is undone). Queued once per group, by its survivor.
   */
  async reviewUsersRows(id: ObjectId, type: ObjectType): Promise<void> {
    const { store } = this.core
    const rows = usersRowsOf(this.core, id)
    if (rows.length < 2) return
    const survivor = store.survivorOf(id)
    const queued = await localState.review.read(store, survivor)
    if (queued?.rows === true && queued.candidates.join() === rows.join()) return
    await localState.review.write(store, survivor, { type, candidates: rows, rows: true })
    this.core.log.info(
      { object: survivor, rows },
      'one record in several rows the local system made; waiting for review',
    )
    this.core.events.emit('review', survivor)
  }

  /** The record stands for the survivor now, and shows it as it reads (with the group's fields). */
  async relink(
    entity: EntityMapping,
    key: string,
    id: ObjectId,
    survivor: ObjectId,
  ): Promise<void> {
    const { links, store } = this.core
    await links.move(id, survivor, entity.type, key)
    const object = await store.get(survivor)
    if (object !== undefined && !object.deleted) {
      await this.parts.writer.writeRow(entity, key, survivor, object)
    }
  }
}
