// peers.json read and checked before anything starts: the registry of paired peers, each
// peer's local-system settings (actions, share groups) and the sources of truth. A wrong
// action stops start-up here, before the store is opened.
import { actionsFromConfig, type LocalPeerSettings } from '../../src/local/index.ts'
import type { Logger } from '../../src/log.ts'
import { OBJECT_TYPES, type InstanceId, type ObjectType } from '../../src/model/index.ts'
import { PeerRegistry, directoryFiles, type PeerRecord } from '../../src/net/index.ts'
import { sourcesOfTruth } from '../../src/sync/index.ts'

/** What one peer's entry in peers.json says beyond id, addresses and key. */
export interface PeerSettings {
  share?: unknown
  actions?: unknown
}

export interface LoadedPeers {
  registry: PeerRegistry
  /** The peers as loaded at start (the registry changes as peers pair and unpair). */
  atStart: readonly PeerRecord[]
  /**
   * What the local system reads of each peer's settings. LocalSync reads this very map at
   * each use, so a share changed while the daemon runs is set here (peer-editor.ts).
   */
  local: Map<InstanceId, LocalPeerSettings>
  sourcesOfTruth: Record<string, InstanceId>
}

export async function loadPeers(dir: string, self: InstanceId, log: Logger): Promise<LoadedPeers> {
  const registry = new PeerRegistry(directoryFiles(dir))
  await registry.load()
  const peers = registry.list()
  const local = new Map<InstanceId, LocalPeerSettings>(
    peers.map((peer, index) => [
      peer.id,
      {
        actions: actionsFromConfig(
          (peer as PeerSettings).actions,
          'peers.json',
          `peers[${index}].actions`,
        ),
        shareGroups: shareGroupsOf((peer as PeerSettings).share),
      },
    ]),
  )
  const truth = sourcesOfTruth(peers, self)
  for (const warning of truth.warnings) log.warn({ file: 'peers.json' }, warning)
  return { registry, atStart: peers, local, sourcesOfTruth: truth.sources }
}

/** The `groups` rule of each type in a peer's share (records in them are in its scope). */
export function shareGroupsOf(share: unknown): Partial<Record<ObjectType, readonly string[]>> {
  const groups: Partial<Record<ObjectType, readonly string[]>> = {}
  if (typeof share !== 'object' || share === null) return groups
  for (const type of OBJECT_TYPES) {
    const rules = (share as Record<string, unknown>)[type]
    const named = (rules as { groups?: unknown } | undefined)?.groups
    if (Array.isArray(named) && named.every((group) => typeof group === 'string')) {
      groups[type] = named
    }
  }
  return groups
}
