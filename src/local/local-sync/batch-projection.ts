// Projecting a batch of the feed at once. Most of what a first sync or a bulk edit brings
// is plain: an object new here that matches no record, or an update of a linked record
// nobody edited here since. Those are written many rows to one local-system transaction
// (each row checked again inside it), and their links saved in one store write. Anything
// else — a match, a merge, a delete, a file, a reference with no row yet, a row edited
// here — goes the one-at-a-time way (decide, then execute), in feed order.
import { fieldSpec, type InstanceId, type ObjectId } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import type { ReadRecord, RowWrite } from '../connector.ts'
import type { EntityMapping } from '../mapping/index.ts'
import { ownKey } from '../assigned-keys.ts'
import type { LocalSyncCore } from './core.ts'
import type { SaveLinkOptions } from './links.ts'
import { localForm, sameSnapshot, snapshot } from './row-snapshot.ts'
import type { ObjectLink } from './state-keys.ts'

/** What the batch hands back to the one-at-a-time path. */
export interface BatchParts {
  /** Projects one object the general way (decide, then execute; failures kept to retry). */
  projectOne: (id: ObjectId, from: InstanceId | undefined) => Promise<void>
  /** A row was written for an arriving object (MergedRows.imported). */
  imported: (object: StoredObject) => void
}

/** Read ahead, but not readable: left to the general path. */
const UNREADABLE = 'unreadable' as const

/** One row to write in the batch, and what to save once it is written. */
interface PlannedWrite {
  id: ObjectId
  from: InstanceId | undefined
  object: StoredObject
  entity: EntityMapping
  write: RowWrite
  /** The object is new here: its row is keyed by its id, and its sender is its origin. */
  imported: boolean
}

export class BatchProjection {
  constructor(
    private readonly core: LocalSyncCore,
    private readonly parts: BatchParts,
  ) {}

  /** Projects the objects (each with the peer that sent its latest change), in order. */
  async project(senders: ReadonlyMap<ObjectId, InstanceId | undefined>): Promise<void> {
    const ids = [...senders.keys()]
    const { store, links } = this.core
    // Read ahead for the whole batch: the store reads these in parallel. What can't be read
    // (a corrupt document, an unreadable link) goes the general way, which reports it.
    const unreadable = () => UNREADABLE
    const [objects, savedLinks] = await Promise.all([
      Promise.all(ids.map((id) => store.get(id).catch(unreadable))),
      Promise.all(
        ids.map((id) =>
          links.keyOf(id) === undefined
            ? Promise.resolve(undefined)
            : links.read(id).catch(unreadable),
        ),
      ),
    ])
    let pending: PlannedWrite[] = []
    for (const [index, id] of ids.entries()) {
      const from = senders.get(id)
      const [object, link] = [objects[index], savedLinks[index]]
      const planned =
        object === UNREADABLE || link === UNREADABLE
          ? undefined
          : await this.plan(id, from, object, link).catch(() => undefined) // the general way reports it
      if (planned === 'unchanged') continue
      if (
        planned !== undefined &&
        (pending.length === 0 || pending[0]!.entity === planned.entity)
      ) {
        pending.push(planned)
        continue
      }
      await this.writeAll(pending)
      pending = []
      if (planned !== undefined) pending.push(planned)
      else await this.parts.projectOne(id, from)
    }
    await this.writeAll(pending)
  }

  /**
   * The row to write for the object, when projecting it is plain (see the top); undefined
   * when it must go the general way. What was read ahead is checked against what the
   * general path may have changed since (links, merges, the match index are in memory).
   */
  private async plan(
    id: ObjectId,
    from: InstanceId | undefined,
    object: StoredObject | undefined,
    link: ObjectLink | undefined,
  ): Promise<PlannedWrite | 'unchanged' | undefined> {
    const { links, mapping, store, awaiting, rules, connector } = this.core
    if (object === undefined || object.deleted) return undefined
    const entity = mapping.get(object.type)
    if (entity === undefined || entity.fields.some((mapped) => mapped.type === 'content')) {
      return undefined
    }
    if (store.groupOf(id).length > 1 || awaiting.involves(object)) return undefined
    if (links.keyOf(id) !== link?.key) return undefined // linked or unlinked meanwhile
    const refs = links.resolver()
    // A reference to a record with no row here: written first, or waiting (general path).
    for (const [name, value] of Object.entries(object.fields)) {
      if (
        typeof value === 'string' &&
        fieldSpec(object.type, name)?.kind === 'objectId' &&
        refs.toLocal(value) === undefined
      ) {
        return undefined
      }
    }
    if (link === undefined) {
      // New here: from a peer whose rules create it plainly, and no record it may be.
      if (from === undefined || links.isDropping(object.type, id)) return undefined
      const actions = rules.actions(from, object.type)
      if (actions.create === 'export' || rules.shareGroups(from, object.type).size > 0) {
        return undefined
      }
      if (
        actions.create !== 'import' &&
        this.core.matches.find(object.type, object.fields).length > 0
      ) {
        return undefined
      }
      // Indexed now: a later object of this batch matching it goes the general way, which
      // writes this one's row (and link) first, and so finds it.
      this.core.matches.put({ type: object.type, key: id, fields: object.fields })
      const { row, custom } = localForm(entity, object, { row: undefined, custom: undefined }, refs)
      const write = { key: id, row, custom, unchanged: (now: ReadRecord) => now.row === undefined }
      return { id, from, object, entity, write, imported: true }
    }
    // Linked: an update, unless the record's peer keeps it here or it was edited here.
    if (link.seen === undefined) return undefined
    if (from !== undefined && rules.actions(from, object.type).maintain === 'export') {
      return undefined
    }
    if (await rules.keptByPeer(id, object.type)) return undefined
    const before = await connector.read(entity, link.key)
    const beforeCustom = entity.customFieldsTable ? await connector.readCustom(link.key) : undefined
    if (before === undefined || !sameSnapshot(link.seen, snapshot(entity, before, beforeCustom))) {
      return undefined
    }
    const form = localForm(entity, object, { row: before, custom: beforeCustom }, refs)
    if (form.unchanged) return 'unchanged'
    const seen = link.seen
    const write: RowWrite = {
      key: link.key,
      row: form.row,
      custom: form.custom,
      unchanged: (now) =>
        now.row !== undefined && sameSnapshot(seen, snapshot(entity, now.row, now.custom)),
    }
    return { id, from, object, entity, write, imported: false }
  }

  /**
   * Writes the rows in one go and saves their links in one store write. A row someone
   * changed since it was planned is left to the general path, which takes the edit in.
   */
  private async writeAll(planned: readonly PlannedWrite[]): Promise<void> {
    if (planned.length === 0) return
    const { connector, links, matches } = this.core
    const entity = planned[0]!.entity
    let results: (ReadRecord | 'changed')[]
    try {
      results = await connector.writeMany(
        entity,
        planned.map((item) => item.write),
      )
    } catch (error) {
      // Refused as a whole (the file busy, a bad value): row by row, where each failure is
      // kept to be tried again and the rest are written.
      this.core.log.warn(
        { table: entity.table, rows: planned.length, err: error },
        'batch write failed; writing row by row',
      )
      for (const item of planned) await this.parts.projectOne(item.id, item.from)
      return
    }
    const saves: [ObjectId, SaveLinkOptions][] = []
    const changed: PlannedWrite[] = []
    for (const [index, item] of planned.entries()) {
      const result = results[index]!
      if (result === 'changed') {
        changed.push(item)
        continue
      }
      // Its own key, where the local system gave the row one (asked for by the object's id).
      const key = ownKey(entity, item.write.key, result.row)
      if (key !== item.write.key) matches.remove(entity.type, item.write.key)
      // A new row under the key it was planned with is indexed already (plan).
      if (!item.imported || key !== item.write.key) {
        matches.put({ type: entity.type, key, fields: item.object.fields })
      }
      saves.push([
        item.id,
        {
          type: entity.type,
          key,
          seen: result.row === undefined ? undefined : snapshot(entity, result.row, result.custom),
          origin: item.imported ? item.from : undefined,
          ...(key === item.write.key ? {} : { inserted: true }),
        },
      ])
    }
    await links.saveMany(saves)
    for (const [index, item] of planned.entries()) {
      if (item.imported && results[index] !== 'changed') this.parts.imported(item.object)
    }
    for (const item of changed) await this.parts.projectOne(item.id, item.from)
  }
}
