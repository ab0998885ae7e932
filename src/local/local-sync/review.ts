// The match review: objects that arrived matching several local records wait in a
// queue (the projector puts them there) until a person says which record each one is,
// or that it is a new one.
import type { FieldValue, ObjectId, ObjectType } from '../../model/index.ts'
import { RowProblem } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'
import type { Projector } from './projector.ts'
import type { RowWriter } from './row-writer.ts'
import { localState } from './state-keys.ts'

export interface ReviewItem {
  object: ObjectId
  type: ObjectType
  candidates: string[]
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
      if (await this.stillWaits(object)) queue.push({ object, ...entry })
    }
    return queue
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
    } else {
      await this.parts.projector.unify(entity, id, decision.link, from)
    }
    this.core.events.emit('review', id)
  }
}
