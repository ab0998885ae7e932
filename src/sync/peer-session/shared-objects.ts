// Objects of types shared object by object, going out: which changed facets the peer may
// have, and which objects it holds from us have left its scope. An object that no longer
// matches is announced as left — not deleted — if the peer ever had it from us; each
// object's last verdict is kept in sync state (`shared/<peer>/<id>`: in or left), so a
// resent feed range repeats the same answer and objects the peer never saw are never
// named to it.
import {
  CORE_FACET,
  facetId,
  isObjectType,
  type FacetId,
  type ObjectId,
} from '../../model/index.ts'
import {
  readFacetBytes,
  type FeedEntry,
  type SyncStateEntry,
  type SyncStateFamily,
} from '../../store/index.ts'
import type { SessionCore } from './session-core.ts'
import { sharedMarks } from './session-keys.ts'
import { facetNameOf, type SessionScope } from '../session-scope.ts'

/** How many objects one `left` message names at most. */
const LEFT_PAGE = 1000

export class SharedObjects {
  private readonly marks: SyncStateFamily<ObjectId, boolean>

  constructor(
    private readonly core: SessionCore,
    private readonly scope: SessionScope,
  ) {
    this.marks = sharedMarks(core.peer)
  }

  /**
   * The facets of changed feed entries that go to the peer, and the objects it holds
   * from us that left its scope. A change to an object's core (the only thing that can
   * move it in or out) sends all its shared facets: the peer may be seeing it for the
   * first time.
   */
  async select(entries: readonly FeedEntry[]): Promise<{ facets: FacetId[]; left: ObjectId[] }> {
    const { store } = this.core
    const facets: FacetId[] = []
    const left: ObjectId[] = []
    const admittedByObject = new Map<ObjectId, boolean>()
    const marks: SyncStateEntry[] = []
    for (const entry of entries) {
      if (!this.scope.needsObjectVerdict(entry.type)) {
        facets.push(entry.facet)
        continue
      }
      let admitted = admittedByObject.get(entry.object)
      if (admitted === undefined) {
        admitted = await this.admit(entry, marks, left)
        admittedByObject.set(entry.object, admitted)
      }
      if (!admitted) continue
      if (facetNameOf(entry.facet) !== CORE_FACET) {
        facets.push(entry.facet)
        continue
      }
      for (const name of await store.facetsOf(entry.object)) {
        if (this.scope.allows(entry.type, name)) facets.push(facetId(entry.object, name))
      }
    }
    if (marks.length > 0) await store.updateSyncState(marks)
    return { facets: [...new Set(facets)], left }
  }

  /** Marks objects as held by the peer (sent in a first-sync page). */
  async markSent(objects: readonly ObjectId[]): Promise<void> {
    if (objects.length === 0) return
    await this.core.store.updateSyncState(objects.map((object) => this.marks.entry(object, true)))
  }

  /**
   * After a scope change: the objects the peer holds from us (marked in) that the new
   * scope no longer takes are announced as left. Objects of a type that was shared whole
   * carry no mark; they are not named (the peer keeps them, as it would anyway).
   */
  async announceDropped(): Promise<void> {
    const { store } = this.core
    let left: ObjectId[] = []
    let marks: SyncStateEntry[] = []
    const flush = async () => {
      if (left.length > 0) await this.core.send({ t: 'left', objects: left })
      if (marks.length > 0) await store.updateSyncState(marks)
      left = []
      marks = []
    }
    for await (const [id, held] of this.marks.scan(store, { unreadable: 'absent' })) {
      if (!held) continue
      const core = await store.getFacetBytes(facetId(id, CORE_FACET))
      const content = core === undefined ? undefined : readFacetBytes(core, { stored: true })
      if (content === undefined || !isObjectType(content.type)) continue
      // As before the split, a scope change does not look at a file's owner here; the
      // file's next change does.
      if (this.scope.objectVerdict(content.type, id, content.fields, 'out-ignoring-owner')) continue
      left.push(id)
      marks.push(this.marks.entry(id, false))
      if (left.length >= LEFT_PAGE) await flush()
    }
    await flush()
  }

  /**
   * The verdict on the object of `entry`, with its mark brought up to date (in `marks`)
   * and, if it left the peer's scope, its id added to `left`.
   */
  private async admit(
    entry: FeedEntry,
    marks: SyncStateEntry[],
    left: ObjectId[],
  ): Promise<boolean> {
    const { store } = this.core
    const core = await store.getFacetBytes(facetId(entry.object, CORE_FACET))
    const content = core === undefined ? undefined : readFacetBytes(core, { stored: true })
    const held = await this.marks.read(store, entry.object, { unreadable: 'absent' })
    let inScope =
      content !== undefined &&
      this.scope.objectVerdict(entry.type, entry.object, content.fields, 'out')
    if (typeof inScope !== 'boolean') inScope = await inScope
    // A delete of an object the peer holds from us goes, whatever the rules say now
    // (its record may have left the group in the same breath).
    const admitted = inScope || (content?.deleted === true && held === true)
    if (admitted && held !== true) marks.push(this.marks.entry(entry.object, true))
    if (!admitted && held !== undefined) {
      left.push(entry.object)
      if (held) marks.push(this.marks.entry(entry.object, false))
    }
    return admitted
  }
}
