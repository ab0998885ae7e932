// What each peer's settings say here: the actions its changes may take (create,
// maintain, delete per type), whether a record is the peer's to keep (maintain: import),
// and which groups its share names.
import type { InstanceId, ObjectId, ObjectType } from '../../model/index.ts'
import { actionsFor, type PeerActions, type TypeActions } from '../actions.ts'
import type { LocalSyncCore } from './core.ts'

export const NO_GROUPS: ReadonlySet<string> = new Set()

export class PeerRules {
  private readonly actionsByPeer = new Map<InstanceId, PeerActions>()

  constructor(private readonly core: Pick<LocalSyncCore, 'peers' | 'links'>) {
    for (const [peer, settings] of core.peers) {
      if (settings.actions !== undefined) this.actionsByPeer.set(peer, settings.actions)
    }
  }

  /** The actions for a change of the type sent by `from` (undefined: made here). */
  actions(from: InstanceId | undefined, type: ObjectType): Readonly<TypeActions> {
    return actionsFor(this.actionsByPeer, from, type)
  }

  /** Whether the object's record is read-only here: its origin peer's maintain is import. */
  async keptByPeer(id: ObjectId, type: ObjectType): Promise<boolean> {
    const origin = await this.core.links.originOf(id)
    return origin !== undefined && this.actions(origin, type).maintain === 'import'
  }

  /** The groups the peer's share names for the type (its `groups` rule), in order. */
  shareGroups(peer: InstanceId | undefined, type: ObjectType): ReadonlySet<string> {
    if (peer === undefined) return NO_GROUPS
    return new Set(this.core.peers.get(peer)?.shareGroups?.[type] ?? [])
  }
}
