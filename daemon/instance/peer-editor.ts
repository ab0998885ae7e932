// The peers as the running daemon keeps them: a session with each at start but the
// paused ones, and changes to a paired peer while it runs (PATCH /v1/peers/:id): its
// name, whether it is paused, what it is shared. Each change is written to peers.json
// first and applied after, so a change that could not be written applies nothing, and a
// restart starts from what runs now. Changes are made one at a time: two at once can't
// leave peers.json and the running daemon telling different stories.
import { ObjectSyncError } from '../../src/errors.ts'
import type { LocalPeerSettings, LocalSync } from '../../src/local/index.ts'
import type { Logger } from '../../src/log.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { PeerRecord, PeerRegistry } from '../../src/net/index.ts'
import type { ObjectStore } from '../../src/store/index.ts'
import {
  scopeChange,
  type PeerScope,
  type ScopeChange,
  type SyncEngine,
} from '../../src/sync/index.ts'
import { checkedScope } from './peer-scopes.ts'
import { shareGroupsOf } from './peer-settings.ts'

/** A share that passed PeerEditor.checkShare: only such a share is saved or previewed. */
export type CheckedShare = Readonly<Record<string, unknown>> & { readonly __checkedShare: true }

export interface PeerEdit {
  name?: string
  /** True: no session either way until resumed (false). */
  paused?: boolean
  /** Replaces the peer's share rules. */
  share?: CheckedShare
}

export interface PeerEditorParts {
  registry: PeerRegistry
  engine: SyncEngine
  store: ObjectStore
  local: LocalSync
  /** The peer settings the local system reads (LoadedPeers.local). */
  settings: Map<InstanceId, LocalPeerSettings>
  scopeOf: (peer: InstanceId) => PeerScope
  log: Logger
}

export class PeerEditor {
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly parts: PeerEditorParts) {}

  /** Starts keeping a session with each peer but the paused ones, which stay paused across restarts. */
  startSessions(): void {
    const { registry, engine } = this.parts
    for (const peer of registry.list()) {
      if (peer.paused === true) engine.pause(peer.id)
      else engine.connect(peer.id)
    }
  }

  /**
   * `share` checked by the rules start-up reads peers.json by; INVALID_REQUEST naming the
   * first part that would not be honoured as written, from `where` (`body`) on.
   */
  checkShare(share: Readonly<Record<string, unknown>>, where: string): CheckedShare {
    checkedScope(share, where, this.parts.local)
    return share as CheckedShare
  }

  /** What saving `share` for `peer` would send it and withdraw from it; writes nothing. */
  async preview(peer: InstanceId, share: CheckedShare): Promise<ScopeChange> {
    const { store, local, scopeOf } = this.parts
    this.peerRecord(peer)
    return scopeChange(store, scopeOf(peer), checkedScope(share, 'share', local))
  }

  /** Writes the changes to peers.json, then applies them; the peer's entry as it is now. */
  update(peer: InstanceId, edit: PeerEdit): Promise<PeerRecord> {
    const applied = this.queue.then(() => this.apply(peer, edit))
    this.queue = applied.catch(() => {})
    return applied
  }

  private async apply(peer: InstanceId, edit: PeerEdit): Promise<PeerRecord> {
    const { registry, engine, settings, scopeOf, log } = this.parts
    const before = this.peerRecord(peer)
    const scopeBefore = scopeOf(peer).key
    const record = await registry.update(peer, edit)
    if (edit.share !== undefined) {
      settings.set(peer, { ...settings.get(peer), shareGroups: shareGroupsOf(edit.share) })
    }
    const paused = record.paused === true
    if (paused) engine.pause(peer)
    else if (before.paused === true) engine.connect(peer)
    // The scope is read at each session's start: a new session sends what it newly takes
    // (a first sync of those objects) and announces what left it.
    else if (scopeOf(peer).key !== scopeBefore) engine.restart(peer)
    log.info({ peer, changed: Object.keys(edit), paused }, 'peer settings changed')
    return record
  }

  private peerRecord(peer: InstanceId): PeerRecord {
    const record = this.parts.registry.get(peer)
    if (record === undefined) {
      throw new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${peer}`)
    }
    return record
  }
}
