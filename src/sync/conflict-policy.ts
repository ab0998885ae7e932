// Sources of truth per field, from the `conflicts` section of each peer in peers.json:
//   "conflicts": { "default": "later-wins", "fields": { "transaction.amount": "self" } }
// "self" names this instance, "peer" the peer of that entry, anything else an instance id.
// The store resolves every conflict on such a field in favour of that instance's write.
import { OBJECT_TYPES, type InstanceId } from '../model/index.ts'

const FIELD_PATTERN = new RegExp(`^(${OBJECT_TYPES.join('|')})\\.(custom\\.)?[^.\\s]+$`)

export interface PeerConflictSettings {
  id: InstanceId
  conflicts?: unknown
}

export function sourcesOfTruth(
  peers: readonly PeerConflictSettings[],
  self: InstanceId,
): { sources: Record<string, InstanceId>; warnings: string[] } {
  const sources: Record<string, InstanceId> = {}
  const warnings: string[] = []
  peers.forEach((peer, index) => {
    const where = `peers[${index}].conflicts`
    if (peer.conflicts === undefined) return
    const settings = peer.conflicts as { default?: unknown; fields?: unknown }
    if (settings.default !== undefined && settings.default !== 'later-wins') {
      warnings.push(`${where}.default: only "later-wins" is supported; using it`)
    }
    if (settings.fields === undefined) return
    if (typeof settings.fields !== 'object' || settings.fields === null) {
      warnings.push(
        `${where}.fields: expected an object of "type.field": "self" | "peer" | instance id`,
      )
      return
    }
    for (const [field, owner] of Object.entries(settings.fields)) {
      if (!FIELD_PATTERN.test(field)) {
        warnings.push(
          `${where}.fields.${field}: expected "type.field" or "type.custom.name"; ignored`,
        )
        continue
      }
      if (typeof owner !== 'string' || owner === '') {
        warnings.push(
          `${where}.fields.${field}: expected "self", "peer" or an instance id; ignored`,
        )
        continue
      }
      const instance = (owner === 'self' ? self : owner === 'peer' ? peer.id : owner) as InstanceId
      const earlier = sources[field]
      if (earlier !== undefined && earlier !== instance) {
        warnings.push(
          `${where}.fields.${field}: another peer entry already names ${earlier}; keeping that`,
        )
        continue
      }
      sources[field] = instance
    }
  })
  return { sources, warnings }
}
