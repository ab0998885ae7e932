// References that wait for a record. Objects arrive in any order and merges can arrive
// after the rows they affect, so a row may be written while an object it names has no
// record here (a donation whose person is waiting for review, or was merged into one that
// has no row yet): its reference column is left empty for now. Each such reference is
// kept, and once the named object — or any object merged with it — has a record, the row
// is written again. Only waiting references are kept, in the sync state (across restarts)
// and in memory; a row written with every reference resolved keeps nothing.
import { fieldSpec, type InstanceId, type ObjectId } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import type { ReferenceResolver } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'
import { localState, type AwaitingName } from './state-keys.ts'

/** A row to write again, and the peer to decide it for. */
export interface AwaitingReferrer {
  id: ObjectId
  from: InstanceId | undefined
}

export class AwaitedReferences {
  /** Referenced object → the objects whose rows wait for it → their sender. */
  private readonly waiting = new Map<ObjectId, Map<ObjectId, InstanceId | undefined>>()

  constructor(private readonly core: Pick<LocalSyncCore, 'store' | 'links'>) {}

  async load(): Promise<void> {
    this.waiting.clear()
    for await (const [name, { from }] of localState.awaiting.scan(this.core.store)) {
      const [referenced, referrer] = name.split('/') as [ObjectId, ObjectId]
      this.remember(referenced, referrer, from)
    }
  }

  /**
   * Whether the row of `referrer` was written with its reference to `referenced` (or to an
   * object merged with it since) empty.
   */
  waits(referenced: ObjectId, referrer: ObjectId): boolean {
    if (this.waiting.size === 0) return false
    return this.core.store
      .groupOf(referenced)
      .some((member) => this.waiting.get(member)?.has(referrer) === true)
  }

  /**
   * The row of `object` was just written, its references in `unresolved` left empty (as
   * `unresolvedReferences` found them when the row was made): those wait, and the others
   * stop waiting.
   */
  async written(
    object: StoredObject,
    from: InstanceId | undefined,
    unresolved: ReadonlySet<ObjectId>,
  ): Promise<void> {
    for (const referenced of referencesOf(object)) {
      const waits = this.waiting.get(referenced)?.has(object.id) === true
      if (unresolved.has(referenced)) {
        if (waits && this.waiting.get(referenced)!.get(object.id) === from) continue
        await localState.awaiting.write(this.core.store, name(referenced, object.id), { from })
        this.remember(referenced, object.id, from)
      } else if (waits) {
        await this.forget(referenced, object.id)
      }
    }
  }

  /** Whether a row waits for the object (or one merged with it), or the object's row waits. */
  involves(object: StoredObject): boolean {
    if (this.waiting.size === 0) return false
    if (this.core.store.groupOf(object.id).some((member) => this.waiting.has(member))) return true
    return referencesOf(object).some((ref) => this.waiting.get(ref)?.has(object.id) === true)
  }

  /**
   * The rows waiting for `id`, or for any object merged with it, that can name a record
   * now; each stops waiting as it is returned (writing it again notes it anew if needed).
   */
  async ready(id: ObjectId): Promise<AwaitingReferrer[]> {
    if (this.waiting.size === 0) return []
    const ready: AwaitingReferrer[] = []
    for (const member of this.core.store.groupOf(id)) {
      const referrers = this.waiting.get(member)
      if (referrers === undefined || this.core.links.recordKeyOf(member) === undefined) continue
      for (const [referrer, from] of [...referrers]) {
        await this.forget(member, referrer)
        ready.push({ id: referrer, from })
      }
    }
    return ready
  }

  private remember(referenced: ObjectId, referrer: ObjectId, from: InstanceId | undefined): void {
    const referrers = this.waiting.get(referenced) ?? new Map<ObjectId, InstanceId | undefined>()
    referrers.set(referrer, from)
    this.waiting.set(referenced, referrers)
  }

  private async forget(referenced: ObjectId, referrer: ObjectId): Promise<void> {
    await localState.awaiting.write(this.core.store, name(referenced, referrer), undefined)
    const referrers = this.waiting.get(referenced)
    referrers?.delete(referrer)
    if (referrers?.size === 0) this.waiting.delete(referenced)
  }
}

/** The objects the object's fields name. */
function referencesOf(object: StoredObject): ObjectId[] {
  return Object.entries(object.fields).flatMap(([field, value]) =>
    typeof value === 'string' && fieldSpec(object.type, field)?.kind === 'objectId'
      ? [value as ObjectId]
      : [],
  )
}

/**
 * The objects the object names that have no record here: read in the same step as the
 * row is made from the same resolver, so a merge applied meanwhile can't fall between.
 */
export function unresolvedReferences(object: StoredObject, refs: ReferenceResolver): Set<ObjectId> {
  return new Set(referencesOf(object).filter((id) => refs.toLocal(id) === undefined))
}

const name = (referenced: ObjectId, referrer: ObjectId): AwaitingName => `${referenced}/${referrer}`
