// What a peer's changes may do in this instance's local system, per peer and object type,
// from the `actions` of each peer in peers.json (as ChurchTools Sync offers them):
//
//   "actions": { "person": { "create": "link", "maintain": "update", "delete": "archive" } }
//
// create   — an object from the peer that has no local record yet:
//            link     match it against the local records first (one match: link and
//                     unify; none: import; several: wait for review) — the default
//            import   make a new local record, without matching
//            export   make nothing here: the pair only sends this instance's records
// maintain — a change from the peer to a linked record:
//            update   write it here; local edits go to the peer too — the default
//            import   write it here; the peer's records are read-only here: a local edit
//                     to one is written over with the merged state, not sent
//            export   don't write it here; local edits still go to the peer
// delete   — the peer deleted an object that has a local record:
//            archive  set `archived` (a table that can't say so keeps the row) — the default
//            delete   delete the local record
//            leave-group  take the record out of the groups the peer's share names
//
// (housekeepingFromConfig, below, reads config.json's `housekeeping` period.)
//
// Each instance decides only what lands in its own local system; the other half of a
// one-way pair ("there") is the peer's own peers.json entry for this instance.
import { z } from 'zod'
import { ObjectSyncError } from '../errors.ts'
import { OBJECT_TYPES, parseDuration, type InstanceId, type ObjectType } from '../model/index.ts'

export const CREATE_ACTIONS = ['link', 'import', 'export'] as const
export const MAINTAIN_ACTIONS = ['update', 'import', 'export'] as const
export const DELETE_ACTIONS = ['archive', 'delete', 'leave-group'] as const

export interface TypeActions {
  create: (typeof CREATE_ACTIONS)[number]
  maintain: (typeof MAINTAIN_ACTIONS)[number]
  delete: (typeof DELETE_ACTIONS)[number]
}

export const DEFAULT_ACTIONS: Readonly<TypeActions> = Object.freeze({
  create: 'link',
  maintain: 'update',
  delete: 'archive',
})

const typeActionsSchema = z.strictObject({
  create: z.enum(CREATE_ACTIONS).optional(),
  maintain: z.enum(MAINTAIN_ACTIONS).optional(),
  delete: z.enum(DELETE_ACTIONS).optional(),
})
const actionsSchema = z.partialRecord(z.enum(OBJECT_TYPES), typeActionsSchema)

/** One peer's actions per type, every value filled in (defaults where not written). */
export type PeerActions = Readonly<Record<ObjectType, Readonly<TypeActions>>>

/**
 * Parses one peer's `actions`. Throws INVALID_CONFIG naming the file, the path in it
 * and what was expected: a wrong action must stop start-up, not do something else.
 */
export function actionsFromConfig(
  actions: unknown,
  file = 'peers.json',
  at = 'peers[0].actions',
): PeerActions {
  const parsed = actionsSchema.safeParse(actions ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const path = [at, ...issue.path.map(String)].join('.')
    const names = (values: readonly unknown[]) => values.map((value) => `"${String(value)}"`)
    let expected: string
    if (issue.code === 'invalid_value') {
      expected = `expected one of ${names(issue.values).join(', ')}`
    } else if (issue.code === 'unrecognized_keys') {
      expected =
        issue.path.length === 0
          ? `unknown type ${names(issue.keys).join(', ')} (expected ${OBJECT_TYPES.join(', ')})`
          : `unknown setting ${names(issue.keys).join(', ')} (a type takes create, maintain, delete)`
    } else {
      expected =
        issue.path.length === 0
          ? 'expected an object of types, e.g. { "person": { "create": "link" } }'
          : 'expected an object of create, maintain, delete'
    }
    throw new ObjectSyncError('INVALID_CONFIG', `${file}: ${path}: ${expected}`, {
      details: { file, path },
    })
  }
  return Object.fromEntries(
    OBJECT_TYPES.map((type) => [type, { ...DEFAULT_ACTIONS, ...parsed.data[type] }]),
  ) as PeerActions
}

/** The actions that apply to a change: the sending peer's, or the defaults. */
export function actionsFor(
  peers: ReadonlyMap<InstanceId, PeerActions> | undefined,
  peer: InstanceId | undefined,
  type: ObjectType,
): Readonly<TypeActions> {
  return (peer === undefined ? undefined : peers?.get(peer)?.[type]) ?? DEFAULT_ACTIONS
}

/**
 * config.json's `housekeeping` ("24h", "30m", "7d", or milliseconds) in milliseconds.
 * Throws INVALID_CONFIG naming the file and what was expected; at least one minute,
 * so that a typo can't keep the local system busy reading itself in full, and at most
 * 24 days.
 */
export function housekeepingFromConfig(
  value: unknown,
  file = 'config.json',
  path = 'housekeeping',
): number | undefined {
  if (value === undefined) return undefined
  const ms = parseDuration(value) ?? Number.NaN
  // Node's timers take at most 2^31 - 1 ms (24.8 days); a longer period fires at once.
  if (!Number.isSafeInteger(ms) || ms < 60_000 || ms > 2 ** 31 - 1) {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `${file}: ${path}: expected a duration from a minute to 24 days, e.g. "24h", "30m" or "7d"; got ${JSON.stringify(value)}`,
      { details: { file, path } },
    )
  }
  return ms
}
