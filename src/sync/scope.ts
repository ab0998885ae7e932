// What a peer may see and send: by object type, by object (rules on the object's own
// fields: roles, categories, favourites, transaction types, file kinds) and by
// custom-field group (each group is its own facet, so a withheld group's history never
// leaves the instance). Parsed from the peer's `share` in peers.json. An object is in
// scope when its type is shared and, if the type lists object rules, it matches any of
// them. `groups` (the local system's static selections) reads the local system's group
// membership: an object goes out while its local record is in one of the groups; one
// arriving from the peer that has no local record yet may come in (it joins the group
// when it is written here). Without a local system a `groups` rule can't be read: alone
// it withholds the type, beside other rules it adds nothing.
import {
  CORE_FACET,
  OBJECT_TYPES,
  isObjectType,
  type FacetName,
  type ObjectId,
  type ObjectType,
} from '../model/index.ts'

export interface PeerScope {
  /** True when every facet of every object is shared: the first sync can stream the store as it is. */
  readonly everything: boolean
  readonly types: readonly ObjectType[]
  /**
   * For a type shared object by object, whether an object with these core fields is in
   * scope; undefined when every object of the type is.
   */
  objectFilter(type: ObjectType): ObjectFilter | undefined
  /** A canonical description: equal keys share the same facets. */
  readonly key: string
  allows(type: ObjectType, facet: FacetName): boolean
}

/**
 * Whether the object is in scope: going out to the peer (`out`), or coming in from it
 * (`in`, where an object with no local record passes a `groups` rule).
 */
export type ObjectFilter = (
  fields: Readonly<Record<string, unknown>>,
  id: ObjectId,
  direction: 'in' | 'out',
) => boolean

/** The groups of an object's local record; undefined when it has none. */
export type GroupsOf = (id: ObjectId) => ReadonlySet<string> | undefined

/** The object rules each type takes, and the field of the object each one reads. */
const OBJECT_RULES: Record<ObjectType, Record<string, RuleField>> = {
  person: { groups: 'groups', roles: 'roles', favourites: 'favourite' },
  organization: { groups: 'groups', categories: 'categories', favourites: 'favourite' },
  transaction: { types: 'type' },
  file: { kinds: 'kind' },
}
type RuleField = 'groups' | 'roles' | 'favourite' | 'categories' | 'type' | 'kind'
const ALL_RULES = new Set(Object.values(OBJECT_RULES).flatMap((rules) => Object.keys(rules)))
const CUSTOM_PREFIX = 'custom:'

interface TypeShare {
  groups: ReadonlySet<string> | 'all'
  /** Values per object field, any of which puts an object in scope; none: every object. */
  rules: [RuleField, ReadonlySet<string> | true][]
}

export interface ParsedScope {
  scope: PeerScope
  /** Why parts of `share` are not honoured (to log), with the path in peers.json. */
  warnings: string[]
}

export function scopeFromShare(
  share: unknown,
  where: string,
  /** The local system's group membership; without it `groups` rules can't be applied. */
  groupsOf?: GroupsOf,
): ParsedScope {
  const warnings: string[] = []
  const shares = new Map<ObjectType, TypeShare>()
  if (typeof share !== 'object' || share === null) {
    warnings.push(`${where}.share: expected an object naming the shared types; sharing nothing`)
    return { scope: makeScope(shares, groupsOf), warnings }
  }
  for (const [type, rules] of Object.entries(share)) {
    if (!isObjectType(type)) {
      warnings.push(
        `${where}.share.${type}: not an object type (${OBJECT_TYPES.join(', ')}); ignored`,
      )
      continue
    }
    const at = `${where}.share.${type}`
    const ruleSet = (typeof rules === 'object' && rules !== null ? rules : {}) as Record<
      string,
      unknown
    >
    const parsed = parseRules(type, ruleSet, at, warnings, groupsOf !== undefined)
    if (parsed === undefined) continue
    const custom = ruleSet.custom
    let groups: TypeShare['groups'] = 'all'
    if (Array.isArray(custom) && custom.every((group) => typeof group === 'string')) {
      groups = new Set(custom)
    } else if (custom !== undefined) {
      warnings.push(
        `${at}.custom: expected a list of custom-field group names; sharing no custom fields`,
      )
      groups = new Set()
    }
    shares.set(type, { groups, rules: parsed })
  }
  return { scope: makeScope(shares, groupsOf), warnings }
}

/** The type's object rules, or undefined when the type can't be shared as written. */
function parseRules(
  type: ObjectType,
  ruleSet: Record<string, unknown>,
  at: string,
  warnings: string[],
  groupsReadable: boolean,
): TypeShare['rules'] | undefined {
  const rules: TypeShare['rules'] = []
  let withheld = false
  let groupsOnly = false
  for (const [name, value] of Object.entries(ruleSet)) {
    if (name === 'custom' || value === undefined) continue
    const field = OBJECT_RULES[type][name]
    if (field === undefined) {
      const known = Object.keys(OBJECT_RULES[type]).join(', ')
      warnings.push(
        ALL_RULES.has(name)
          ? `${at}.${name}: not a rule for ${type} (it takes ${known}, custom); ${type} is not shared with this peer`
          : `${at}.${name}: unknown rule (${type} takes ${known}, custom); ${type} is not shared with this peer`,
      )
      withheld = true
    } else if (name === 'favourites') {
      if (typeof value !== 'boolean') {
        warnings.push(
          `${at}.favourites: expected true or false; ${type} is not shared with this peer`,
        )
        withheld = true
      } else if (value) rules.push([field, true])
    } else if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      warnings.push(`${at}.${name}: expected a list of names; ${type} is not shared with this peer`)
      withheld = true
    } else if (field === 'groups' && !groupsReadable) {
      groupsOnly = true
    } else {
      rules.push([field, new Set(value)])
    }
  }
  if (withheld) return undefined
  if (groupsOnly) {
    if (rules.length === 0) {
      warnings.push(
        `${at}.groups: group rules need the local system, and there is none; ${type} is not shared with this peer`,
      )
      return undefined
    }
    warnings.push(
      `${at}.groups: group rules need the local system, and there is none; only the other rules share ${type} objects`,
    )
  }
  // `favourites: false` alone is no rule at all: every object is shared.
  return rules
}

function matches(rules: TypeShare['rules'], groupsOf: GroupsOf | undefined): ObjectFilter {
  return (fields, id, direction) =>
    rules.some(([field, wanted]) => {
      if (field === 'groups') {
        if (wanted === true || groupsOf === undefined) return false
        const groups = groupsOf(id)
        if (groups === undefined) return direction === 'in'
        for (const group of groups) if (wanted.has(group)) return true
        return false
      }
      const value = fields[field]
      if (wanted === true) return value === true
      if (typeof value === 'string') return wanted.has(value)
      return (
        Array.isArray(value) && value.some((item) => typeof item === 'string' && wanted.has(item))
      )
    })
}

function makeScope(shares: Map<ObjectType, TypeShare>, groupsOf?: GroupsOf): PeerScope {
  const types = OBJECT_TYPES.filter((type) => shares.has(type))
  const filters = new Map(
    [...shares]
      .filter(([, share]) => share.rules.length > 0)
      .map(([type, share]) => [type, matches(share.rules, groupsOf)] as const),
  )
  return {
    everything:
      types.length === OBJECT_TYPES.length &&
      filters.size === 0 &&
      [...shares.values()].every((share) => share.groups === 'all'),
    types,
    key: JSON.stringify(
      types.map((type) => {
        const { groups, rules } = shares.get(type)!
        return [
          type,
          groups === 'all' ? '*' : [...groups].sort(),
          rules.map(([field, wanted]) => [field, wanted === true ? true : [...wanted].sort()]),
        ]
      }),
    ),
    objectFilter: (type) => filters.get(type),
    allows(type, facet) {
      const share = shares.get(type)
      if (share === undefined) return false
      if (facet === CORE_FACET || share.groups === 'all') return true
      return facet.startsWith(CUSTOM_PREFIX) && share.groups.has(facet.slice(CUSTOM_PREFIX.length))
    },
  }
}

export const SHARE_EVERYTHING: PeerScope = makeScope(
  new Map(OBJECT_TYPES.map((type) => [type, { groups: 'all', rules: [] }])),
)
