// The dry run: what the next run would do, without writing anything. Incoming, per
// peer: what `decide` says for each change not yet written here (the same decision the
// projector carries out, so the two can't disagree). Outgoing: the local edits not yet
// taken in, for each peer whose scope takes them. Write-free by its imports: this module
// never reaches the row writer or the projector (test/layers.test.ts checks that).
import type { FieldValue, InstanceId, ObjectId, ObjectType } from '../../model/index.ts'
import { RowProblem, type EntityMapping } from '../mapping/index.ts'
import { changedRecords } from './change-entries.ts'
import { recordId, type LocalSyncCore } from './core.ts'
import { decide, latestSenders, type Projection } from './projection.ts'
import { sameSnapshot, snapshot, withoutNulls } from './row-snapshot.ts'
import { localState } from './state-keys.ts'
import { readCustomOf } from './row-reader.ts'

export interface PlanOptions {
  /** The peers to plan for; local edits are listed per peer when given. */
  peers?: readonly InstanceId[]
  /** Whether an object (with these canonical fields) goes to the peer. */
  inScope?: (
    peer: InstanceId,
    type: ObjectType,
    fields: Readonly<Record<string, unknown>>,
    id: ObjectId | undefined,
  ) => boolean
  /** At most this many items per list (default 1000); `count` says how many in all. */
  limit?: number
}

export interface PlanItem {
  type: ObjectType
  table: string
  /** The local record, when there is one. */
  key?: string
  object?: ObjectId
  candidates?: string[]
  groups?: string[]
  column?: string | undefined
  reason?: string
}

export interface PlanList {
  count: number
  items: PlanItem[]
}

const INCOMING_KINDS = [
  'link',
  'import',
  'update',
  'archive',
  'delete',
  'leave-group',
  'keep-local',
  'drop-duplicate',
  'relink',
  'review',
  'skip',
] as const
const OUTGOING_KINDS = ['export', 'update', 'delete', 'bad'] as const
type OutgoingKind = (typeof OUTGOING_KINDS)[number]

/** A peer's changes (undefined: made here through the API) not yet written here. */
export type IncomingPlan = { peer: InstanceId | undefined } & Record<
  (typeof INCOMING_KINDS)[number],
  PlanList
>
/** Local edits not yet taken in that go to the peer (undefined: to any peer). */
export type OutgoingPlan = { peer: InstanceId | undefined } & Record<OutgoingKind, PlanList>

export interface SyncPlan {
  incoming: IncomingPlan[]
  outgoing: OutgoingPlan[]
}

/** Feed and change-log entries read at once. */
const BATCH = 1000

function emptyLists<K extends string>(kinds: readonly K[]): Record<K, PlanList> {
  return Object.fromEntries(
    kinds.map((kind) => [kind, { count: 0, items: [] as PlanItem[] }]),
  ) as Record<K, PlanList>
}

function push(list: PlanList, item: PlanItem, limit: number): void {
  list.count++
  if (list.items.length < limit) list.items.push(item)
}

/** The plan's item for a projection. */
function itemOf(projection: Exclude<Projection, { kind: 'none' }>): PlanItem {
  return {
    object: projection.id,
    type: projection.object.type,
    table: projection.entity.table,
    ...('key' in projection && projection.key !== undefined ? { key: projection.key } : {}),
    ...(projection.kind === 'review' ? { candidates: projection.candidates } : {}),
    ...(projection.kind === 'leave-group' ? { groups: projection.groups } : {}),
    ...(projection.kind === 'skip' ? { reason: projection.reason } : {}),
  }
}

export async function planIncoming(core: LocalSyncCore, limit: number): Promise<IncomingPlan[]> {
  const { store } = core
  const byPeer = new Map<string, IncomingPlan>()
  // Each object once, as its latest change (over the whole range) decides.
  const senders = new Map<ObjectId, InstanceId | undefined>()
  let cursor = (await localState.projectedCursor.read(store)) ?? 0
  for (;;) {
    const entries = await store.readFeed(cursor, BATCH)
    if (entries.length === 0) break
    for (const [id, from] of latestSenders(entries, core.instanceId)) {
      senders.delete(id)
      senders.set(id, from)
    }
    cursor = entries[entries.length - 1]!.seq
  }
  for await (const [id, { from }] of localState.retry.scan(store)) {
    if (!senders.has(id)) senders.set(id, from)
  }
  // A record that stands for a merged group is decided once per object of the group.
  const relinked = new Set<string>()
  for (const [id, from] of senders) {
    const projection = await decide(core, id, from)
    if (projection.kind === 'none') continue
    if (projection.kind === 'relink') {
      if (relinked.has(projection.key)) continue
      relinked.add(projection.key)
    }
    const peer = projection.from ?? ''
    let entry = byPeer.get(peer)
    if (entry === undefined) {
      entry = { peer: projection.from, ...emptyLists(INCOMING_KINDS) }
      byPeer.set(peer, entry)
    }
    push(entry[projection.kind], itemOf(projection), limit)
  }
  return [...byPeer.values()]
}

export async function planOutgoing(
  core: LocalSyncCore,
  options: PlanOptions,
  limit: number,
): Promise<OutgoingPlan[]> {
  const found = await localEdits(core, await pendingRecords(core))
  const peers = options.peers ?? []
  const plans: OutgoingPlan[] = (peers.length === 0 ? [undefined] : peers).map((peer) => ({
    peer,
    ...emptyLists(OUTGOING_KINDS),
  }))
  for (const [kind, item, fields] of found) {
    for (const plan of plans) {
      const shared =
        kind === 'bad' ||
        plan.peer === undefined ||
        options.inScope === undefined ||
        options.inScope(plan.peer, item.type, fields ?? {}, item.object)
      if (shared) push(plan[kind], item, limit)
    }
  }
  return plans
}

/** The records the next ingest would read: all of them on the first run, else the changed. */
async function pendingRecords(core: LocalSyncCore): Promise<Map<string, [EntityMapping, string]>> {
  const { connector, mapping, store } = core
  const pending = new Map<string, [EntityMapping, string]>()
  if ((await localState.initialized.read(store)) === undefined) {
    for (const entity of mapping.values()) {
      for await (const row of connector.readAll(entity)) {
        const key = row[entity.key]
        if (key !== null && key !== undefined)
          pending.set(recordId(entity, String(key)), [entity, String(key)])
      }
    }
    return pending
  }
  let cursor = (await localState.changesCursor.read(store)) ?? 0
  for (;;) {
    const changes = await connector.changesSince(cursor, BATCH)
    if (changes.length === 0) break
    for (const change of changes) {
      // A custom field's change is a change of the record it belongs to.
      for (const entity of changedRecords(core, change.table, change.key)) {
        pending.set(recordId(entity, change.key), [entity, change.key])
      }
    }
    cursor = changes[changes.length - 1]!.seq
  }
  return pending
}

type LocalEdit = [OutgoingKind, PlanItem, Record<string, FieldValue> | undefined]

/** What each pending record would send: its kind, its item and its canonical fields. */
async function localEdits(
  core: LocalSyncCore,
  pending: Map<string, [EntityMapping, string]>,
): Promise<LocalEdit[]> {
  const { connector, links, store } = core
  const found: LocalEdit[] = []
  for (const [entity, key] of pending.values()) {
    const row = await connector.read(entity, key)
    const objectId = links.objectOf(entity.type, key)
    const base = {
      type: entity.type,
      table: entity.table,
      key,
      ...(objectId === undefined ? {} : { object: objectId }),
    }
    // A record the peer keeps (maintain: import) is written over, not sent.
    if (objectId !== undefined && (await core.rules.keptByPeer(objectId, entity.type))) continue
    if (row === undefined) {
      if (objectId !== undefined) found.push(['delete', base, (await store.get(objectId))?.fields])
      continue
    }
    const custom = await readCustomOf(connector, entity, key)
    const link = objectId === undefined ? undefined : await links.read(objectId)
    if (sameSnapshot(link?.seen, snapshot(entity, row, custom))) continue
    try {
      const read = core.rows.read(entity, row, custom)
      found.push([objectId === undefined ? 'export' : 'update', base, withoutNulls(read.fields)])
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error
      found.push(['bad', { ...base, column: error.column, reason: error.message }, undefined])
    }
  }
  return found
}
