// Deciding what projecting an object's latest change does to the local system, by the
// sending peer's actions. Reads only: the result is a tagged union that the projector
// carries out and the dry run (`plan`) lists, so the two can't disagree.
import type { InstanceId, ObjectId, ObjectType } from '../../model/index.ts'
import type { FeedEntry, StoredObject } from '../../store/index.ts'
import type { EntityMapping } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'
import { localState, type ObjectLink } from './state-keys.ts'

/** What projecting one object does to the local system (see `decide`). */
export type Projection =
  | { kind: 'none'; id: ObjectId }
  | (ProjectionBase &
      (
        | { kind: 'update' | 'archive' | 'delete' | 'link' | 'keep-local'; key: string }
        | { kind: 'import' }
        | { kind: 'review'; candidates: string[] }
        | { kind: 'leave-group'; key: string; groups: string[] }
        | { kind: 'skip'; key: string | undefined; reason: string }
        /** Two rows here for one record (merged objects): the daemon's own goes. */
        | { kind: 'drop-duplicate'; key: string; drop: ObjectId; keep: RecordRef }
        /** The object was merged into another that has no row here: its row is the survivor's. */
        | { kind: 'relink'; key: string; survivor: ObjectId }
      ))

/** A local record and the object it is linked to. */
export interface RecordRef {
  id: ObjectId
  key: string
}

interface ProjectionBase {
  id: ObjectId
  entity: EntityMapping
  object: StoredObject
  /** The peer whose change this is; undefined: this instance's own. */
  from: InstanceId | undefined
}

type Core = Pick<
  LocalSyncCore,
  'store' | 'connector' | 'mapping' | 'links' | 'rules' | 'groups' | 'matches'
>

/**
 * What projecting the object's latest change (made here, or sent by `from`) does to the
 * local system, decided by the sending peer's actions. Reads only: `plan` shows these
 * without writing, and `execute` carries them out.
 */
export async function decide(
  core: Core,
  id: ObjectId,
  from: InstanceId | undefined,
): Promise<Projection> {
  const object = await core.store.get(id)
  const entity = object === undefined ? undefined : core.mapping.get(object.type)
  if (object === undefined || entity === undefined) return { kind: 'none', id }
  const link = await core.links.read(id)
  const base = { id, entity, object, from }
  const duplicate = duplicateRecord(core, id, object.type)
  if (duplicate !== undefined) return { ...base, kind: 'drop-duplicate', ...duplicate }

  if (object.deleted)
    return link === undefined ? { kind: 'none', id } : decideDelete(core, base, link)
  if (link !== undefined) {
    if (from !== undefined && core.rules.actions(from, object.type).maintain === 'export') {
      return { ...base, kind: 'keep-local', key: link.key }
    }
    // Merged into an object with no row here: the record stands for that one now — not
    // for a deleted one (the record stays as its own object's).
    const survivor = core.store.survivorOf(id)
    if (survivor !== id && core.links.keyOf(survivor) === undefined) {
      const kept = await core.store.get(survivor)
      if (kept !== undefined && !kept.deleted) {
        return { ...base, kind: 'relink', key: link.key, survivor }
      }
    }
    return { ...base, kind: 'update', key: link.key }
  }
  // Merged into another object (here, or on any instance): the survivor is the record.
  // (The store says; a merge undone since stands alone again.)
  if (core.store.survivorOf(id) !== id) return { kind: 'none', id }
  // A survivor with no row, an object merged into it with one: that row stands for it
  // (a live object's row that is there; a row someone deleted is not written again).
  for (const member of core.store.groupOf(id)) {
    const key = core.links.keyOf(member)
    if (key === undefined || member === id) continue
    if ((await core.store.get(member))?.deleted !== false) continue
    if ((await core.connector.read(entity, key)) === undefined) continue
    return { ...base, id: member, kind: 'relink', key, survivor: id }
  }
  // Its own row is on its way out (a second row of its record): not written again.
  if (core.links.isDropping(object.type, id)) return { kind: 'none', id }
  return decideNew(core, base)
}

/**
 * Objects merged (here or elsewhere) that each have a row here are one record in two rows:
 * a race wrote the row of an arriving object before the matching row was taken in. A row
 * the daemon wrote for an arriving object (its key is that object's id) goes, so the row
 * the local system's users made stays; of rows the daemon wrote only, the survivor's
 * stays. Rows the users made are left alone (two of them wait for a person: see
 * MergedRows.reviewUsersRows).
 */
function duplicateRecord(
  core: Core,
  id: ObjectId,
  type: ObjectType,
): { key: string; drop: ObjectId; keep: RecordRef } | undefined {
  const group = core.store.groupOf(id)
  if (group.length < 2) return undefined
  const records = group.flatMap((member) => {
    const key = core.links.keyOf(member)
    return key === undefined ? [] : [{ id: member, key }]
  })
  if (records.length < 2) return undefined
  // A row imported under its peer's `create: import` is meant to stand alone.
  const madeHere = records.filter(
    (record) =>
      writtenByDaemon(core, group, record.key) &&
      !importedByRule(core, record.key as ObjectId, type) &&
      !importedByRule(core, record.id, type),
  )
  const usersOwn = records.filter((record) => !writtenByDaemon(core, group, record.key))
  if (madeHere.length === 0) return undefined
  // Keep the users' row, or else the survivor's (the group's first), or else the first.
  const keep = usersOwn[0] ?? records.find((record) => record.id === group[0]) ?? records[0]!
  const drop = madeHere.find((record) => record.id !== keep.id)
  return drop === undefined ? undefined : { key: drop.key, drop: drop.id, keep }
}

/** The rows the local system's users made (not the daemon) for objects of the id's group. */
export function usersRowsOf(core: Pick<Core, 'store' | 'links'>, id: ObjectId): string[] {
  const group = core.store.groupOf(id)
  if (group.length < 2) return []
  return group.flatMap((member) => {
    const key = core.links.keyOf(member)
    return key === undefined || writtenByDaemon(core, group, key) ? [] : [key]
  })
}

/**
 * Whether the daemon wrote the row: it keys a row it writes for an arriving object by the
 * object's id (or the local system gives it a key, which the link remembers), and the row
 * keeps that key when it comes to stand for the group's survivor.
 */
function writtenByDaemon(
  core: Pick<Core, 'links'>,
  group: readonly ObjectId[],
  key: string,
): boolean {
  return group.some((member) => core.links.insertedFor(member, key))
}

function importedByRule(core: Core, id: ObjectId, type: ObjectType): boolean {
  const origin = core.links.originNow(id)
  return origin !== undefined && core.rules.actions(origin, type).create === 'import'
}

/** A deleted object with a record: deleted here (the row is gone already), or arriving. */
async function decideDelete(
  core: Core,
  base: ProjectionBase,
  link: ObjectLink,
): Promise<Projection> {
  const { id, entity, object, from } = base
  const row = await core.connector.read(entity, link.key)
  if (row === undefined) return { kind: 'none', id }
  const actions = core.rules.actions(from, object.type)
  if (actions.delete === 'delete') return { ...base, kind: 'delete', key: link.key }
  if (actions.delete === 'leave-group') {
    const named = core.rules.shareGroups(from, object.type)
    const groups = [...core.groups.ofRecord(link.key)].filter((g) => named.has(g))
    return groups.length === 0
      ? { kind: 'none', id }
      : { ...base, kind: 'leave-group', key: link.key, groups }
  }
  if (!entity.fields.some((mapped) => mapped.field === 'archived')) {
    return { ...base, kind: 'skip', key: link.key, reason: `${entity.table} can not archive` }
  }
  return { ...base, kind: 'archive', key: link.key }
}

/** An object with no record here yet: made, linked to a matching record, or reviewed. */
async function decideNew(core: Core, base: ProjectionBase): Promise<Projection> {
  const { store, links } = core
  const { id, object, from } = base
  const actions = core.rules.actions(from, object.type)
  if (from !== undefined && actions.create === 'export') {
    return { ...base, kind: 'skip', key: undefined, reason: 'create: export' }
  }
  // Kept out once by a peer's `create: export`, it stays out when it changes later.
  if (from === undefined && (await localState.declined.has(store, id))) {
    return { ...base, kind: 'skip', key: undefined, reason: 'create: export' }
  }
  if (actions.create === 'import') return { ...base, kind: 'import' }
  // New here: is it a record the local system already has (from before pairing)?
  // For a peer's object, a record is not a candidate when one instance made an object of
  // each (counting the objects merged with either): that instance keeps the two apart
  // (two people of the same name), so they stay two here, whichever way they came.
  const candidates: string[] = []
  const groups = new Set<ObjectId>()
  const ourMakers = from === undefined ? undefined : await makersOf(core, id)
  for (const candidate of core.matches.find(object.type, object.fields)) {
    const linked = links.objectOf(object.type, candidate.key)
    if (
      linked !== undefined &&
      !core.store.groupOf(id).includes(linked) &&
      !groups.has(store.survivorOf(linked)) &&
      !(await keptApart(core, object, linked)) &&
      (ourMakers === undefined || !(await madeByOneOf(core, ourMakers, linked))) &&
      // An archived row of a deleted record is no record to merge with.
      (await store.get(linked))?.deleted !== true
    ) {
      // Two rows of one merged record are one candidate.
      groups.add(store.survivorOf(linked))
      candidates.push(candidate.key)
    }
  }
  if (candidates.length === 0) return { ...base, kind: 'import' }
  // A record in two rows here (waiting for a person to say which stays) is no record to
  // link to on its own: which row would stand for it is that person's to say.
  if (candidates.length === 1) {
    const rows = usersRowsOf(core, links.objectOf(object.type, candidates[0]!)!)
    if (rows.length < 2) return { ...base, kind: 'link', key: candidates[0]! }
    return { ...base, kind: 'review', candidates: rows }
  }
  return { ...base, kind: 'review', candidates }
}

/** The instances that made the objects of the id's group (as far as this instance knows). */
async function makersOf(core: Core, id: ObjectId): Promise<Set<InstanceId>> {
  const found = new Set<InstanceId>()
  for (const member of core.store.groupOf(id)) {
    const creator = (await core.store.get(member))?.createdBy
    if (creator !== undefined) found.add(creator)
  }
  return found
}

/**
 * One of `makers` made an object of `other`'s group too: that instance keeps the two
 * apart, and merging the groups would make its two records one.
 */
async function madeByOneOf(
  core: Core,
  makers: ReadonlySet<InstanceId>,
  other: ObjectId,
): Promise<boolean> {
  for (const creator of await makersOf(core, other)) if (makers.has(creator)) return true
  return false
}

/** A person undid a merge of the two (either way round): matching leaves them apart. */
async function keptApart(core: Core, object: StoredObject, other: ObjectId): Promise<boolean> {
  const { store } = core
  const apartFrom = (id: ObjectId | undefined, from: ObjectId) =>
    id !== undefined && store.survivorOf(id) === store.survivorOf(from)
  if (apartFrom(object.keptApartFrom, other)) return true
  return apartFrom((await store.get(other))?.keptApartFrom, object.id)
}

/**
 * Each object changed in the entries once, with the peer that sent its latest change.
 * Touches change nothing here (they are for the sync engine's scope), and changes taken
 * in from the local system (`from` this instance) are what it says already.
 */
export function latestSenders(
  entries: readonly FeedEntry[],
  self: InstanceId,
): Map<ObjectId, InstanceId | undefined> {
  const senders = new Map<ObjectId, InstanceId | undefined>()
  for (const entry of entries) {
    if (entry.touch !== true && entry.from !== self) senders.set(entry.object, entry.from)
  }
  return senders
}
