// What a peer may see and send: by object type, and by custom-field group (each group is
// its own facet, so a withheld group's history never leaves the instance). Parsed from
// the peer's `share` in peers.json. The object-level rules of the format — groups,
// roles, categories, favourites, transaction types, file kinds — are not applied yet: a
// type that names one is shared with nobody until they are, rather than shared whole.
import {
  CORE_FACET,
  OBJECT_TYPES,
  isObjectType,
  type FacetName,
  type ObjectType,
} from '../model/index.ts'

export interface PeerScope {
  /** True when every facet of every type is shared: the first sync can stream the store as it is. */
  readonly everything: boolean
  readonly types: readonly ObjectType[]
  /** A canonical description: equal keys share the same facets. */
  readonly key: string
  allows(type: ObjectType, facet: FacetName): boolean
}

const OBJECT_RULES = ['groups', 'roles', 'favourites', 'categories', 'types', 'kinds'] as const
const CUSTOM_PREFIX = 'custom:'

export interface ParsedScope {
  scope: PeerScope
  /** Why parts of `share` are not honoured (to log), with the path in peers.json. */
  warnings: string[]
}

export function scopeFromShare(share: unknown, where: string): ParsedScope {
  const warnings: string[] = []
  const groupsByType = new Map<ObjectType, ReadonlySet<string> | 'all'>()
  if (typeof share !== 'object' || share === null) {
    warnings.push(`${where}.share: expected an object naming the shared types; sharing nothing`)
    return { scope: makeScope(groupsByType), warnings }
  }
  for (const [type, rules] of Object.entries(share)) {
    if (!isObjectType(type)) {
      warnings.push(
        `${where}.share.${type}: not an object type (${OBJECT_TYPES.join(', ')}); ignored`,
      )
      continue
    }
    const ruleSet = (typeof rules === 'object' && rules !== null ? rules : {}) as Record<
      string,
      unknown
    >
    const unsupported = OBJECT_RULES.filter((rule) => ruleSet[rule] !== undefined)
    if (unsupported.length > 0) {
      warnings.push(
        `${where}.share.${type}.${unsupported[0]}: object-level rules are not applied yet; ${type} is not shared with this peer`,
      )
      continue
    }
    const custom = ruleSet.custom
    if (custom === undefined) groupsByType.set(type, 'all')
    else if (Array.isArray(custom) && custom.every((group) => typeof group === 'string')) {
      groupsByType.set(type, new Set(custom))
    } else {
      warnings.push(
        `${where}.share.${type}.custom: expected a list of custom-field group names; sharing no custom fields`,
      )
      groupsByType.set(type, new Set())
    }
  }
  return { scope: makeScope(groupsByType), warnings }
}

function makeScope(groupsByType: Map<ObjectType, ReadonlySet<string> | 'all'>): PeerScope {
  const types = OBJECT_TYPES.filter((type) => groupsByType.has(type))
  return {
    everything:
      types.length === OBJECT_TYPES.length &&
      [...groupsByType.values()].every((groups) => groups === 'all'),
    types,
    key: JSON.stringify(
      types.map((type) => {
        const groups = groupsByType.get(type)!
        return [type, groups === 'all' ? '*' : [...groups].sort()]
      }),
    ),
    allows(type, facet) {
      const groups = groupsByType.get(type)
      if (groups === undefined) return false
      if (facet === CORE_FACET || groups === 'all') return true
      return facet.startsWith(CUSTOM_PREFIX) && groups.has(facet.slice(CUSTOM_PREFIX.length))
    },
  }
}

export const SHARE_EVERYTHING: PeerScope = makeScope(
  new Map(OBJECT_TYPES.map((type) => [type, 'all'])),
)
