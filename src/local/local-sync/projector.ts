// Carrying out projections: objects changed in the store (here or by peers) → the
// local system. Follows the store's feed, writes what `decide` says, and keeps what
// can't be written yet (a file waiting for its bytes, a write the local system refused)
// to be tried again. Also unifies an arriving object with a matching local record.
import { fieldSpec, type InstanceId, type ObjectId, type ObjectType } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import { writeField, type EntityMapping } from '../mapping/index.ts'
import { contentHeld } from './content.ts'
import { FROM_LOCAL_SYSTEM, type LocalSyncCore } from './core.ts'
import { decide, latestSenders, type Projection, type RecordRef } from './projection.ts'
import { diff, localForm, sameLocal, snapshot } from './row-snapshot.ts'
import type { RowWriter } from './row-writer.ts'
import { localState } from './state-keys.ts'
import { BatchProjection } from './batch-projection.ts'
import { FeedProjection } from './feed-projection.ts'
import { MergedRows, type MergedRowsParts } from './merged-rows.ts'
import { readCustomOf, saysOtherwise } from './row-reader.ts'

export class Projector {
  /** Where the projection stands in the store's feed. */
  readonly feed: FeedProjection
  private readonly mergedRows: MergedRows
  private readonly batch: BatchProjection
  private failed = false

  constructor(
    private readonly core: LocalSyncCore,
    private readonly writer: RowWriter,
    takeInto: MergedRowsParts['takeInto'],
  ) {
    this.mergedRows = new MergedRows(core, {
      writer,
      execute: (projection) => this.execute(projection),
      takeInto,
    })
    this.batch = new BatchProjection(core, {
      projectOne: (id, from) => this.projectOrRetryLater(id, from),
      imported: (object) => this.mergedRows.imported(object),
    })
    this.feed = new FeedProjection(core, (entries) =>
      this.batch.project(latestSenders(entries, core.instanceId)),
    )
  }

  /** Removes the row `drop` of a record whose row is `keep` (a person said so). */
  async dropRow(type: ObjectType, drop: RecordRef, keep: RecordRef): Promise<void> {
    const object = await this.core.store.get(drop.id)
    const entity = this.core.mapping.get(type)
    if (object === undefined || entity === undefined) return
    await this.execute({
      kind: 'drop-duplicate',
      id: drop.id,
      entity,
      object,
      from: undefined,
      key: drop.key,
      drop: drop.id,
      keep,
    })
  }

  /** Removes the second rows of records that a stop or crash left half removed. */
  finishDrops(): Promise<void> {
    return this.mergedRows.finishDrops()
  }

  /** Whether a write failed since the last call (and is kept to be tried again). */
  takeFailed(): boolean {
    const failed = this.failed
    this.failed = false
    return failed
  }

  /** Objects whose write the local system refused, waiting to be tried again. */
  async waitingToRetry(): Promise<number> {
    let count = 0
    for await (const entry of localState.retry.scan(this.core.store)) if (entry) count++
    return count
  }

  /** Keeps a failed write to be tried again (soon, with backoff, and at housekeeping). */
  private async retryLater(id: ObjectId, from: InstanceId | undefined): Promise<void> {
    await localState.retry.write(this.core.store, id, { from })
    this.failed = true
  }

  /** Projects every change of the feed since the last time. */
  async projectChanges(): Promise<void> {
    await this.feed.run()
  }

  /**
   * Projects the object's latest change. One object the local system refuses must not
   * hold up all the others: it is tried again at housekeeping (or at its next change).
   */
  private async projectOrRetryLater(id: ObjectId, from: InstanceId | undefined): Promise<void> {
    try {
      await this.execute(await decide(this.core, id, from))
    } catch (error) {
      await this.retryLater(id, from)
      this.core.log.error(
        { object: id, err: error },
        'could not write the object into the local system',
      )
    }
  }

  /** Writes the file objects that waited for their content, where it is here now. */
  async projectWaiting(): Promise<void> {
    const { mapping, store } = this.core
    const waiting: [ObjectId, InstanceId | undefined][] = []
    for await (const [id, { from }] of localState.contentWait.scan(store)) waiting.push([id, from])
    for (const [id, from] of waiting) {
      const object = await store.get(id)
      const entity = object === undefined ? undefined : mapping.get(object.type)
      if (object !== undefined && entity !== undefined) {
        if (!(await contentHeld(this.core, entity, object))) continue // not yet
      }
      await localState.contentWait.write(store, id, undefined)
      await this.projectOrRetryLater(id, from)
    }
  }

  /**
   * Writes every linked object again whose record differs from it (housekeeping);
   * returns how many were written.
   */
  async rewriteDiffering(): Promise<number> {
    const { connector, store } = this.core
    let rewritten = 0
    for await (const [id, link] of localState.object.scan(store)) {
      if (link.seen === undefined) continue
      const projection = await decide(this.core, id, await this.core.links.originOf(id))
      if (projection.kind !== 'update') continue
      const { entity } = projection
      const row = await connector.read(entity, projection.key)
      if (row === undefined) continue
      const custom = await readCustomOf(connector, entity, projection.key)
      const before = { row, custom }
      if (localForm(entity, projection.object, before, this.core.links.resolver()).unchanged) {
        continue
      }
      const { rows, instanceId } = this.core
      const record = { entity, object: projection.object, row, custom, seen: link.seen }
      if (!saysOtherwise(rows, record, instanceId)) {
        continue
      }
      await this.execute(projection)
      rewritten++
    }
    return rewritten
  }

  /** Tries the objects whose write failed again; returns how many there were. */
  async retryFailed(): Promise<number> {
    const { store } = this.core
    const retries: [ObjectId, InstanceId | undefined][] = []
    for await (const [id, { from }] of localState.retry.scan(store)) retries.push([id, from])
    for (const [id, from] of retries) {
      await localState.retry.write(store, id, undefined)
      try {
        await this.execute(await decide(this.core, id, from))
      } catch (error) {
        await this.retryLater(id, from)
        this.core.log.error({ object: id, err: error }, 'could not write the object again')
      }
    }
    return retries.length
  }

  /**
   * Carries out the projection, then writes again the rows that waited for a record of
   * the object (or of one merged with it), which this may have made or the merge it saw.
   */
  async execute(projection: Projection): Promise<void> {
    await this.carryOut(projection)
    await this.writeAwaiting(projection.id)
    if (projection.kind !== 'none') {
      await this.mergedRows.reviewUsersRows(projection.id, projection.object.type)
    }
  }

  /**
   * Writes again the rows that waited for a record of `id` or of one merged with it. Only
   * the row is written (its reference column filled in): nothing is decided anew for the
   * peer that sent the object, whose rules were applied when the row was written.
   */
  async writeAwaiting(id: ObjectId): Promise<void> {
    const { links, mapping, store } = this.core
    for (const referrer of await this.core.awaiting.ready(id)) {
      const key = links.keyOf(referrer.id)
      const object = key === undefined ? undefined : await store.get(referrer.id)
      const entity = object === undefined ? undefined : mapping.get(object.type)
      if (key === undefined || object === undefined || object.deleted || entity === undefined) {
        continue // its row went, or stands for another object now
      }
      try {
        await this.writer.writeRow(entity, key, referrer.id, object)
      } catch (error) {
        await this.retryLater(referrer.id, referrer.from)
        this.core.log.error({ object: referrer.id, err: error }, 'could not write the row again')
      }
    }
  }

  private async carryOut(projection: Projection): Promise<void> {
    const { connector, groups, store } = this.core
    if (projection.kind === 'none') return
    const { id, entity, object, from } = projection
    if (
      (projection.kind === 'update' || projection.kind === 'import') &&
      !(await contentHeld(this.core, entity, object))
    ) {
      // A file whose bytes are still on their way from a peer: written once they are
      // here and verified (see projectWaiting), across restarts too.
      await localState.contentWait.write(store, id, { from })
      this.core.log.debug({ object: id }, 'file waits for its content before it is written')
      return
    }
    if (projection.kind === 'update' || projection.kind === 'import') {
      // A record it names written just now (and maybe merged) can change what an arriving
      // object is: a donation of a person merged this moment matches the local one.
      const wrote = await this.mergedRows.projectReferenced(object, from)
      if (wrote && projection.kind === 'import') {
        return this.carryOut(await decide(this.core, id, from))
      }
    }
    switch (projection.kind) {
      case 'update':
        return this.writer.writeRow(entity, projection.key, id, object)
      case 'import':
        // Into the peer's share group first: from the moment the record exists, the
        // peer's further changes are in scope here.
        await groups.joinShareGroup(id, object.type, from)
        await this.writer.writeRow(entity, id, id, object, { origin: from })
        await this.moveShareGroup(id, object.type, from)
        this.mergedRows.imported(object)
        return
      case 'link':
        return this.unify(entity, id, projection.key, from)
      case 'review':
        return this.queueForReview(projection)
      case 'archive':
        return this.archive(entity, projection.key, id)
      case 'keep-local':
        return this.keepLocal(entity, projection.key, id, object)
      case 'delete':
        await connector.remove(entity, projection.key)
        await this.core.links.save(id, { type: entity.type, key: projection.key, seen: undefined })
        return
      case 'drop-duplicate':
        return this.mergedRows.dropDuplicate(projection)
      case 'relink':
        return this.mergedRows.relink(entity, projection.key, id, projection.survivor)
      case 'leave-group':
        return groups.changeGroups(projection.key, { leave: projection.groups })
      case 'skip':
        if (projection.key === undefined && from !== undefined) {
          await localState.declined.write(store, id, from)
        }
        this.core.log.debug({ object: id, from, reason: projection.reason }, 'not written here')
    }
  }

  private async queueForReview(projection: Extract<Projection, { kind: 'review' }>): Promise<void> {
    const { id, object, from, candidates } = projection
    await localState.review.write(this.core.store, id, {
      type: object.type,
      candidates,
      ...(from === undefined ? {} : { from }),
    })
    this.core.log.info(
      { object: id, candidates: candidates.length },
      'several local records match; waiting for review',
    )
    this.core.events.emit('review', id)
  }

  /**
   * Sets only the archived column: a local edit of the row not taken in yet stays (the
   * object is deleted, so it could not be taken in anyway).
   */
  private async archive(entity: EntityMapping, key: string, id: ObjectId): Promise<void> {
    const { connector, links } = this.core
    const mapped = entity.fields.find((field) => field.field === 'archived')!
    const before = await connector.read(entity, key)
    if (before === undefined) return
    const archived = writeField(mapped, true, links.resolver())
    if (!sameLocal(before[mapped.column], archived)) {
      await connector.write(entity, key, { [mapped.column]: archived })
    }
    const link = await links.read(id)
    const after = await connector.read(entity, key)
    const custom = await readCustomOf(connector, entity, key)
    // Only the archived column is the daemon's write; anything else changed since last
    // seen stays a difference (and is reported as a change to a deleted object).
    const seen = link?.seen ?? (after === undefined ? undefined : snapshot(entity, after, custom))
    if (seen !== undefined && after !== undefined) {
      seen.columns[mapped.column] = snapshot(entity, after, custom).columns[mapped.column] ?? null
    }
    await links.save(id, { type: entity.type, key, seen })
  }

  /**
   * `maintain: export`: this local system is the master of the record. The peer's change
   * is not written here; the record's values are written back over it in the store, so
   * every instance ends with this system's values.
   */
  private async keepLocal(
    entity: EntityMapping,
    key: string,
    id: ObjectId,
    object: StoredObject,
  ): Promise<void> {
    const { connector, store } = this.core
    const row = await connector.read(entity, key)
    if (row === undefined) return
    const custom = await readCustomOf(connector, entity, key)
    const read = this.core.rows.readOrReport(entity, key, row, custom)
    if (read === undefined) return
    const patch = diff(object, read, this.core.instanceId)
    // A reference column left empty because what it names has no row here (yet) is not
    // this system saying "none": the reference stays.
    for (const [field, value] of Object.entries(object.fields)) {
      if (
        patch?.fields?.[field] === null &&
        typeof value === 'string' &&
        fieldSpec(object.type, field)?.kind === 'objectId' &&
        (this.core.links.recordKeyOf(value as ObjectId) === undefined ||
          this.core.awaiting.waits(value as ObjectId, id))
      ) {
        delete patch.fields[field]
      }
    }
    if (patch !== undefined && (Object.keys(patch.fields ?? {}).length > 0 || patch.custom)) {
      await store.update(id, patch, FROM_LOCAL_SYSTEM)
    }
  }

  /**
   * The object `id` and the local record `key` (linked to another object) are the same:
   * the two are merged in the store (the smaller id stands for both, on every instance
   * once synced, and reads with the fields only the other has) and the record is linked to
   * the survivor.
   */
  async unify(
    entity: EntityMapping,
    id: ObjectId,
    key: string,
    origin?: InstanceId,
  ): Promise<void> {
    const { links, store } = this.core
    const linked = links.objectOf(entity.type, key)!
    const kept = await store.merge(id, linked)
    const keptKey = links.keyOf(kept)
    if (keptKey !== undefined && keptKey !== key) {
      // The record is in another row here too (two rows the users made, waiting for a
      // person): the rows keep their links; the arriving object is only merged.
      if (id !== kept) await links.merge(id, id)
      this.core.log.info({ kept, arriving: id, key }, 'matched a record that has two rows here')
      await this.writeAwaiting(kept)
      return
    }
    const recordLink = await links.read(linked)
    // Both may be merged into the kept one (when `linked` was merged before): neither
    // keeps a link of its own to this record.
    for (const merged of new Set([id, linked])) {
      if (merged !== kept) await links.merge(merged, id)
    }
    await links.save(kept, { type: entity.type, key, seen: recordLink?.seen, origin })
    await this.core.groups.joinShareGroup(key, entity.type, origin)
    this.core.log.info(
      { kept, arriving: id, record: linked, table: entity.table, key },
      'matched a local record: one object kept',
    )
    const current = await store.get(kept)
    if (current !== undefined) await this.writer.writeRow(entity, key, kept, current)
    await this.mergedRows.merged(kept, origin)
    // Unified from the review queue too, not only while projecting.
    await this.writeAwaiting(kept)
  }

  /** The share group joined under the object's id, moved to the key the row was given. */
  private async moveShareGroup(
    id: ObjectId,
    type: ObjectType,
    from: InstanceId | undefined,
  ): Promise<void> {
    const key = this.core.links.keyOf(id)
    if (key !== undefined && key !== id) await this.core.groups.movedShareGroup(id, key, type, from)
  }
}
