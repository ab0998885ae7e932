// Plain-text forms of the API's answers, for the CLI when not --json.

export interface PeerJson {
  id: string
  name: string
  connected: boolean
  paused?: boolean
  lastSyncAt: string | null
  pendingIn: number
  pendingOut: number
  lastError?: string | null
  connection?: { path: 'direct' } | { path: 'relay'; relay: { id: string; name: string } } | null
  relay?: { reserved: boolean } | null
}

export interface StatusJson {
  id: string
  name: string
  objects: Record<string, number>
  peers: PeerJson[]
  conflicts: number
  matches: number
  badRows: unknown[]
  localSystem: {
    description: string
    up: boolean
    since: string
    error: string | null
    failures: number
    behind?: number
    retrying?: number
  }
}

interface PlanList {
  count: number
}

export interface PlanJson {
  incoming: ({ peer?: string } & Record<string, PlanList | string | undefined>)[]
  outgoing: ({ peer?: string } & Record<string, PlanList | string | undefined>)[]
}

export function describePeer(peer: PeerJson): string {
  const path = peer.connection?.path === 'relay' ? ` via relay ${peer.connection.relay.name}` : ''
  const relay =
    peer.relay === undefined || peer.relay === null
      ? ''
      : peer.relay.reserved
        ? ' (our relay: reserved)'
        : ' (our relay: no reservation)'
  const connected = peer.connected ? 'connected' : 'not connected'
  const state = `${peer.paused === true ? 'paused' : connected}${path}${relay}`
  const last = peer.lastSyncAt === null ? 'never synced' : `last sync ${peer.lastSyncAt}`
  const problem = peer.lastError ? `; last session broke off: ${peer.lastError}` : ''
  return `${peer.name} (${peer.id}): ${state}, ${last}, pending in ${peer.pendingIn} / out ${peer.pendingOut}${problem}`
}

export function describeStatus(status: StatusJson): string {
  const objects = Object.entries(status.objects)
    .map(([type, count]) => `${type} ${count}`)
    .join(', ')
  return [
    `${status.name} (${status.id})`,
    `objects: ${objects}`,
    status.peers.length === 0
      ? 'peers: none'
      : `peers:\n${status.peers.map((peer) => `  ${describePeer(peer)}`).join('\n')}`,
    `conflicts waiting: ${status.conflicts}; matches waiting for review: ${status.matches}; bad rows: ${status.badRows.length}`,
    describeLocalSystem(status.localSystem),
  ].join('\n')
}

function describeLocalSystem(local: StatusJson['localSystem']): string {
  // An older daemon says nothing of it: nothing is said here either.
  const retrying = local.retrying ?? 0
  const behind =
    local.behind === undefined
      ? ''
      : local.behind > 0 || retrying > 0
        ? [
            local.behind > 0
              ? `, ${local.behind.toLocaleString('en')} changes still to write into it`
              : '',
            retrying > 0
              ? `, ${retrying.toLocaleString('en')} records waiting to be written again`
              : '',
          ].join('')
        : ', up to date'
  if (local.up) return `local system: ${local.description}, answering${behind}`
  return `local system: ${local.description}, NOT ANSWERING since ${local.since} (${local.failures} tries): ${local.error ?? ''}`
}

export function describePlan(plan: PlanJson): string {
  const counts = (entry: Record<string, PlanList | string | undefined>) =>
    Object.entries(entry)
      .filter(
        (pair): pair is [string, PlanList] => typeof pair[1] === 'object' && pair[1].count > 0,
      )
      .map(([kind, list]) => `${kind} ${list.count}`)
      .join(', ') || 'nothing'
  const lines = [
    ...plan.incoming.map((entry) => `from ${entry.peer ?? 'this instance'}: ${counts(entry)}`),
    ...plan.outgoing.map((entry) => `to ${entry.peer ?? 'any peer'}: ${counts(entry)}`),
  ]
  return lines.length === 0 ? 'nothing to do' : lines.join('\n')
}
