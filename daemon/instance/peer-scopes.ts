// Each peer's scope (what it may see and send), read from its `share` in peers.json at
// each session, so a share changed while the daemon runs applies at the next one. Warnings
// about a share are logged once per peer and scope, not at every session. A share given
// through the API is checked by the same rules, and refused where start-up would warn.
import { ObjectSyncError } from '../../src/errors.ts'
import type { LocalSync } from '../../src/local/index.ts'
import type { Logger } from '../../src/log.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { PeerRecord, PeerRegistry } from '../../src/net/index.ts'
import { scopeFromShare, type ParsedScope, type PeerScope } from '../../src/sync/index.ts'
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
    const parsed = parseShare(
      (record as (PeerRecord & PeerSettings) | undefined)?.share,
      `peers.json: peers[${index}]`,
      local,
    )
    if (scopes.get(peer)?.key !== parsed.scope.key) {
      for (const warning of parsed.warnings) log.warn({ peer }, warning)
      scopes.set(peer, parsed.scope)
    }
    return parsed.scope
  }
}

/**
 * The scope `share` gives, when every part of it is honoured as written; otherwise
 * INVALID_REQUEST naming the first part that is not (`body.share.person.roles: expected a
 * list of names`), where start-up would withhold or ignore it with a warning.
 */
export function checkedScope(share: unknown, where: string, local: LocalSync): PeerScope {
  const parsed = parseShare(share, where, local)
  const problem = parsed.problems[0]
  if (problem !== undefined) {
    throw new ObjectSyncError('INVALID_REQUEST', `${problem.at}: ${problem.problem}`, {
      details: { path: problem.at },
    })
  }
  return parsed.scope
}

function parseShare(share: unknown, where: string, local: LocalSync): ParsedScope {
  return scopeFromShare(share, where, (id) => local.groupsOf(id))
}
