// The match review: objects that arrived matching several local records wait in a
// queue (the projector puts them there) until a person says which record each one is,
// or that it is a new one.
import { isObjectSyncError, ObjectSyncError } from '../../errors.ts'
import type { FieldValue, ObjectId, ObjectType } from '../../model/index.ts'
import { RowProblem } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'
import type { Projector } from './projector.ts'
import type { RowWriter } from './row-writer.ts'
import { usersRowsOf } from './projection.ts'
import { localState } from './state-keys.ts'

export interface ReviewItem {
  object: ObjectId
  type: ObjectType
  candidates: string[]
  /** The candidates are rows the users made for one merged record (`object` its survivor). */
  rows?: true
}

export class Review {
  constructor(
    private readonly core: LocalSyncCore,
    private readonly parts: { writer: RowWriter; projector: Projector },
  ) {}

  /**
   * Objects waiting for a person to say which local record they are, if any. One merged
   * into another meanwhile (on any instance), or deleted, waits no more: the survivor is
   * the record now.
   */
  async queue(): Promise<ReviewItem[]> {
    const queue: ReviewItem[] = []
    // The entry as stored (with `from`, when the object came from a peer).
    for await (const [object, entry] of localState.review.scan(this.core.store)) {
      if (entry.rows === true) {
        // The rows as they are now (a merge or an unmerge may have changed them).
        const rows = this.rowsStillWait(object) ? usersRowsOf(this.core, object) : []
        if (rows.length > 1) queue.push({ object, ...entry, candidates: rows })
      } else if (await this.stillWaits(object)) {
        queue.push({ object, ...entry })
      }
    }
    return queue
  }

  /** Two rows the users made still stand for the group (the merge stands, both rows too). */
  private rowsStillWait(survivor: ObjectId): boolean {
    return (
      this.core.store.survivorOf(survivor) === survivor &&
      usersRowsOf(this.core, survivor).length > 1
    )
  }

  /** Not merged, deleted, or linked to a record since (a merge decided elsewhere). */
  private async stillWaits(id: ObjectId): Promise<boolean> {
    const object = await this.core.store.get(id)
    return (
      object !== undefined &&
      !object.deleted &&
      object.mergedInto === undefined &&
      this.core.links.keyOf(id) === undefined
    )
  }

  /**
   * A local record as canonical fields, as the mapping reads it (for the match review);
   * undefined when the row is gone or the mapping cannot read it.
   */
  async readRecord(
    type: ObjectType,
    key: string,
  ): Promise<Record<string, FieldValue | null> | undefined> {
    const entity = this.core.mapping.get(type)
    if (entity === undefined) return undefined
    const row = await this.core.connector.read(entity, key)
    if (row === undefined) return undefined
    try {
      return this.core.rows.read(entity, row, undefined).fields
    } catch (error) {
      if (error instanceof RowProblem) return undefined
      throw error
    }
  }

  /** Resolves a review: the object is the record `key`, or (`separate`) a new one. */
  async resolve(id: ObjectId, decision: { link: string } | 'separate'): Promise<void> {
    const entry = await localState.review.read(this.core.store, id)
    if (entry?.rows === true) return this.resolveRows(id, entry.type, decision)
    const { mapping, store } = this.core
    const object = await store.get(id)
    const entity = object === undefined ? undefined : mapping.get(object.type)
    if (object === undefined || entity === undefined) return
    if (
      object.deleted ||
      object.mergedInto !== undefined ||
      this.core.links.keyOf(id) !== undefined
    ) {
      // Settled elsewhere (merged or deleted): nothing is written for it here.
      await localState.review.write(store, id, undefined)
      this.core.events.emit('review', id)
      return
    }
    const from = (await localState.review.read(store, id))?.from
    if (decision === 'separate') {
      await localState.review.write(store, id, undefined)
      await this.core.groups.joinShareGroup(id, object.type, from)
      await this.parts.writer.writeRow(entity, id, id, object, { origin: from })
      await this.parts.projector.writeAwaiting(id)
    } else {
      await this.parts.projector.unify(entity, id, decision.link, from)
    }
    this.core.events.emit('review', id)
  }

  /**
   * Rows the users made for one merged record: `link` keeps that row as the record and
   * removes the others (their unread edits taken in first, references rewritten);
   * `separate` undoes the merges that joined them, on every instance.
   */
  private async resolveRows(
    survivor: ObjectId,
    type: ObjectType,
    decision: { link: string } | 'separate',
  ): Promise<void> {
    const { links, store } = this.core
    const rows = usersRowsOf(this.core, survivor).map((key) => ({
      key,
      id: links.objectOf(type, key)!,
    }))
    if (decision === 'separate') {
      await this.partRows(rows.map((row) => row.id))
    } else {
      const keep = rows.find((row) => row.key === decision.link)
      if (keep === undefined) {
        throw new ObjectSyncError(
          'INVALID_REQUEST',
          `body.key: ${decision.link} is not one of the rows ${rows.map((row) => row.key).join(', ')}`,
          { details: { path: 'body.key' } },
        )
      }
      for (const row of rows) {
        if (row.key !== keep.key) await this.parts.projector.dropRow(type, row, keep)
      }
    }
    // Last: a step that failed leaves the item in the queue, to be decided again.
    await localState.review.write(store, survivor, undefined)
    this.core.events.emit('review', survivor)
  }

  /**
   * Undoes the merges that join the objects: those the rows' objects record first, then,
   * while two are still one (joined through another object's merge), every merge of the
   * group — over-parting is undone by merging again; staying joined is not.
   */
  private async partRows(ids: ObjectId[]): Promise<void> {
    const { store } = this.core
    const unmerge = async (id: ObjectId) => {
      try {
        await store.unmerge(id)
      } catch (error) {
        if (!isObjectSyncError(error, 'INVALID_MERGE')) throw error // records no merge
      }
    }
    for (const id of ids) await unmerge(id)
    const joined = () => new Set(ids.map((id) => store.survivorOf(id))).size < ids.length
    if (joined()) {
      for (const member of store.groupOf(ids[0]!)) await unmerge(member)
    }
  }
}
