// Each peer's scope (what it may see and send), read from its `share` in peers.json at
// each session, so an edited peers.json applies at the next one. Warnings about a share
// are logged once per peer and scope, not at every session.
import type { LocalSync } from '../../src/local/index.ts'
import type { Logger } from '../../src/log.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { PeerRecord, PeerRegistry } from '../../src/net/index.ts'
import { scopeFromShare, type PeerScope } from '../../src/sync/index.ts'
import type { PeerSettings } from './peer-settings.ts'

export function peerScopes(parts: {
  registry: PeerRegistry
  local: LocalSync
  log: Logger
}): (peer: InstanceId) => PeerScope {
  const { registry, local, log } = parts
  const scopes = new Map<InstanceId, PeerScope>()
  return (peer: InstanceId): PeerScope => {
    const record = registry.get(peer)
    const index = registry.list().findIndex((each) => each.id === peer)
    const parsed = scopeFromShare(
      (record as (PeerRecord & PeerSettings) | undefined)?.share,
      `peers.json: peers[${index}]`,
      (id) => local.groupsOf(id),
    )
    if (scopes.get(peer)?.key !== parsed.scope.key) {
      for (const warning of parsed.warnings) log.warn({ peer }, warning)
      scopes.set(peer, parsed.scope)
    }
    return parsed.scope
  }
}
