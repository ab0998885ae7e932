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

/** A part of `share` that is not honoured: where, what is wrong there, and what is done instead. */
export interface ShareProblem {
  /** The place, `where` first: `peers.json: peers[0].share.person.roles`. */
  at: string
  /** What is wrong there, or what was expected. */
  problem: string
  /** What is done instead, e.g. `person is not shared with this peer`. */
  outcome: string
}

export interface ParsedScope {
  scope: PeerScope
  /** Why parts of `share` are not honoured (to log), with the path in peers.json. */
  warnings: string[]
  /** The same, each part apart: a share given through the API is refused at the first. */
  problems: ShareProblem[]
}

export function scopeFromShare(
  share: unknown,
  where: string,
  /** The local system's group membership; without it `groups` rules can't be applied. */
  groupsOf?: GroupsOf,
): ParsedScope {
  const problems: ShareProblem[] = []
  const shares = new Map<ObjectType, TypeShare>()
  const parsed = () => ({
    scope: makeScope(shares, groupsOf),
    warnings: problems.map(({ at, problem, outcome }) => `${at}: ${problem}; ${outcome}`),
    problems,
  })
  if (typeof share !== 'object' || share === null || Array.isArray(share)) {
    problems.push({
      at: `${where}.share`,
      problem: 'expected an object naming the shared types',
      outcome: 'sharing nothing',
    })
    return parsed()
  }
  for (const [type, rules] of Object.entries(share)) {
    if (!isObjectType(type)) {
      problems.push({
        at: `${where}.share.${type}`,
        problem: `not an object type (${OBJECT_TYPES.join(', ')})`,
        outcome: 'ignored',
      })
      continue
    }
    const at = `${where}.share.${type}`
    // `true` shares the type whole, as `{}` does. Anything else that is not rules (`false`,
    // null) withholds it: read as "whole", a `false` would share what it meant to withhold.
    if (rules !== true && (typeof rules !== 'object' || rules === null || Array.isArray(rules))) {
      problems.push({
        at,
        problem: 'expected an object of rules ({} shares every object of the type)',
        outcome: `${type} is not shared with this peer`,
      })
      continue
    }
    const ruleSet = (rules === true ? {} : rules) as Record<string, unknown>
    const typeRules = parseRules(type, ruleSet, at, problems, groupsOf !== undefined)
    if (typeRules === undefined) continue
    const custom = ruleSet.custom
    let groups: TypeShare['groups'] = 'all'
    if (Array.isArray(custom) && custom.every((group) => typeof group === 'string')) {
      groups = new Set(custom)
    } else if (custom !== undefined) {
      problems.push({
        at: `${at}.custom`,
        problem: 'expected a list of custom-field group names',
        outcome: 'sharing no custom fields',
      })
      groups = new Set()
    }
    shares.set(type, { groups, rules: typeRules })
  }
  return parsed()
}

/** The type's object rules, or undefined when the type can't be shared as written. */
function parseRules(
  type: ObjectType,
  ruleSet: Record<string, unknown>,
  at: string,
  problems: ShareProblem[],
  groupsReadable: boolean,
): TypeShare['rules'] | undefined {
  const rules: TypeShare['rules'] = []
  const withhold = (rule: string, problem: string) =>
    problems.push({ at: `${at}.${rule}`, problem, outcome: `${type} is not shared with this peer` })
  const before = problems.length
  let groupsOnly = false
  for (const [name, value] of Object.entries(ruleSet)) {
    if (name === 'custom' || value === undefined) continue
    const field = OBJECT_RULES[type][name]
    if (field === undefined) {
      const known = Object.keys(OBJECT_RULES[type]).join(', ')
      withhold(
        name,
        ALL_RULES.has(name)
          ? `not a rule for ${type} (it takes ${known}, custom)`
          : `unknown rule (${type} takes ${known}, custom)`,
      )
    } else if (name === 'favourites') {
      if (typeof value !== 'boolean') withhold(name, 'expected true or false')
      else if (value) rules.push([field, true])
    } else if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      withhold(name, 'expected a list of names')
    } else if (field === 'groups' && !groupsReadable) {
      groupsOnly = true
    } else {
      rules.push([field, new Set(value)])
    }
  }
  if (problems.length > before) return undefined
  if (groupsOnly) {
    const problem = 'group rules need the local system, and there is none'
    if (rules.length === 0) {
      withhold('groups', problem)
      return undefined
    }
    problems.push({
      at: `${at}.groups`,
      problem,
      outcome: `only the other rules share ${type} objects`,
    })
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
