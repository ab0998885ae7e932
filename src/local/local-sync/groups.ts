// The local system's group membership (static selections, read by scope rules): kept
// per record key, announced to the sync engine by touching the record's object in the
// feed whenever it changes, and saved as announced so that a change made while the
// daemon was stopped is found at the next start.
import type { InstanceId, ObjectId, ObjectType } from '../../model/index.ts'
import type { LocalSyncCore } from './core.ts'
import { NO_GROUPS } from './peer-rules.ts'
import { localState } from './state-keys.ts'

export class Groups {
  /** The local system's group membership by record key (what `groups` rules read). */
  private readonly byKey = new Map<string, Set<string>>()

  constructor(
    private readonly core: Pick<
      LocalSyncCore,
      'store' | 'connector' | 'mapping' | 'links' | 'rules'
    >,
  ) {}

  /** Reads the membership as last announced (not the local system's: see `loadGroups`). */
  async load(): Promise<void> {
    for await (const [key, groups] of localState.groups.scan(this.core.store)) {
      this.byKey.set(key, new Set(groups))
    }
  }

  /**
   * The groups the object's local record is in, for scope rules; undefined when the
   * object has no local record.
   */
  groupsOf(id: ObjectId): ReadonlySet<string> | undefined {
    // An object merged with another is in scope as the record that stands for both (so
    // its delete goes where that record's object goes).
    const key = this.core.links.recordKeyOf(id)
    if (key === undefined) return undefined
    return this.ofRecord(key)
  }

  /** The groups the record is in, as last announced. */
  ofRecord(key: string): ReadonlySet<string> {
    return this.byKey.get(key) ?? NO_GROUPS
  }

  /** Reads all group membership and announces what differs from what was announced. */
  async loadGroups(): Promise<void> {
    const loaded = new Map<string, Set<string>>()
    for await (const { group, key } of this.core.connector.groupMembers()) {
      const groups = loaded.get(key) ?? new Set<string>()
      groups.add(group)
      loaded.set(key, groups)
    }
    for (const key of new Set([...this.byKey.keys(), ...loaded.keys()])) {
      await this.setGroups(key, loaded.get(key) ?? new Set())
    }
  }

  /** Reads one record's groups again (its membership changed). */
  async readGroups(key: string): Promise<void> {
    await this.setGroups(key, new Set(await this.core.connector.groupsOf(key)))
  }

  async changeGroups(
    key: string,
    change: { join?: readonly string[]; leave?: readonly string[] },
    /** The peer the change is made for: it is not sent the object again. */
    from?: InstanceId,
  ): Promise<void> {
    await this.core.connector.changeGroups(key, change)
    await this.setGroups(key, new Set(await this.core.connector.groupsOf(key)), from)
  }

  /**
   * The row joined under its object's id (joinShareGroup, before it existed) got another
   * key from the local system: the membership moves to that key.
   */
  async movedShareGroup(
    id: string,
    key: string,
    type: ObjectType,
    from: InstanceId | undefined,
  ): Promise<void> {
    const [group] = this.core.rules.shareGroups(from, type)
    if (group === undefined) return
    await this.changeGroups(key, { join: [group] }, from)
    await this.changeGroups(id, { leave: [group] }, from)
  }

  /** The record joins the first group the peer's share names for the type, if any. */
  async joinShareGroup(key: string, type: ObjectType, from: InstanceId | undefined): Promise<void> {
    const [group] = this.core.rules.shareGroups(from, type)
    if (group !== undefined) await this.changeGroups(key, { join: [group] }, from)
  }

  /**
   * Records a record's membership; when it changed, the object is touched in the feed so
   * that the sync engine weighs it against each peer's scope again (and sends it, or
   * announces it as left) — also to peers that are offline now, when they come back.
   */
  private async setGroups(key: string, groups: Set<string>, from?: InstanceId): Promise<void> {
    const { store, links, mapping } = this.core
    const before = this.ofRecord(key)
    const same = before.size === groups.size && [...groups].every((group) => before.has(group))
    if (same) return
    if (groups.size === 0) this.byKey.delete(key)
    else this.byKey.set(key, groups)
    await store.updateSyncState([
      localState.groups.entry(key, groups.size === 0 ? undefined : [...groups].sort()),
    ])
    for (const type of mapping.keys()) {
      const id = links.objectOf(type, key)
      if (id !== undefined) await store.touch(id, from)
    }
  }
}
