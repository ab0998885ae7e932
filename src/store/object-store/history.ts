// An object's history, built from its documents' own changes and the write stamps they
// carry: who changed what, when, from what to what. Nothing is logged beside the
// documents, so every instance that holds the record reads the same history, including
// what happened before it was paired. A survivor of merges shows the history of the
// objects merged into it too, each entry saying which object it was written on.
//
// Entries are ordered by their stamps' times, never before a change they were made on
// (a writer's clock may be behind), ties broken by change hash: the same order wherever
// the changes arrived in whatever order.
import { ObjectSyncError } from '../../errors.ts'
import {
  CORE_FACET,
  isObjectId,
  type FacetName,
  type FieldValue,
  type InstanceId,
  type ObjectId,
} from '../../model/index.ts'
import { DELETED_META, sameValue, type FacetContent, type WriteStamp } from '../facet-doc.ts'
import { facetSteps, type FacetStep } from '../facet-doc/history.ts'
import type { StoreCore } from './core.ts'
import { freeObject } from './loaded-object.ts'

export type HistoryChange = 'create' | 'edit' | 'delete' | 'restore' | 'merge' | 'unmerge'

export interface FieldChange {
  /** Null: the field had no value. */
  from: FieldValue | null
  /** Null: the change cleared the field. */
  to: FieldValue | null
}

export interface HistoryEntry {
  /** The entry's cursor (its first change's hash); `before` in the next page's request. */
  id: string
  /** When the writer stamped the change (its wall clock, ms). */
  at: number
  /** The instance that wrote it; undefined for a change that carries no stamp. */
  by: InstanceId | undefined
  change: HistoryChange
  /** Standard fields the change wrote. */
  fields: Record<string, FieldChange>
  /** Custom fields the change wrote, by group. */
  custom: Record<string, Record<string, FieldChange>>
  /** Written on this object, merged into the one asked for (absent: on the object itself). */
  object?: ObjectId
  /** A merge: the object it was merged into; an unmerge: the one it was kept apart from. */
  into?: ObjectId
}

export interface HistoryPage {
  /** Oldest first: the `limit` entries just before the cursor (or the latest ones). */
  entries: HistoryEntry[]
  /** The cursor of older entries (pass it as `before`), or null at the first change. */
  next: string | null
}

export const DEFAULT_HISTORY_LIMIT = 100
export const MAX_HISTORY_LIMIT = 1000

interface Node {
  entry: HistoryEntry
  /** 0 for the core facet, 1 for custom ones: a create is placed before its custom fields. */
  rank: number
  /** Unique within the history: the same hash may stand in two merged objects' facets. */
  key: string
  deps: string[]
}

export class ObjectHistory {
  constructor(private readonly core: StoreCore) {}

  async page(id: ObjectId, options: { limit?: number; before?: string }): Promise<HistoryPage> {
    const limit = options.limit ?? DEFAULT_HISTORY_LIMIT
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
      throw new ObjectSyncError(
        'INVALID_CURSOR',
        `limit: expected an integer from 1 to ${MAX_HISTORY_LIMIT}`,
      )
    }
    const entries = await this.entries(id)
    let end = entries.length
    if (options.before !== undefined) {
      end = entries.findIndex((entry) => entry.id === options.before)
      if (end < 0) {
        throw new ObjectSyncError(
          'INVALID_CURSOR',
          `before: expected the "next" of a previous page of this object's history`,
        )
      }
    }
    const start = Math.max(0, end - limit)
    return { entries: entries.slice(start, end), next: start > 0 ? entries[start]!.id : null }
  }

  /** The whole history, oldest first. Throws OBJECT_NOT_FOUND for an object not stored. */
  async entries(id: ObjectId): Promise<HistoryEntry[]> {
    this.core.openCommits()
    const notFound = () =>
      new ObjectSyncError('OBJECT_NOT_FOUND', `no object has the id ${id}`, { details: { id } })
    if (!isObjectId(id)) throw notFound()
    const nodes: Node[] = []
    for (const member of [id, ...this.core.identities.mergedInto(id)]) {
      const found = await this.core.locks.run(member, async () => {
        const loaded = await this.core.loadDetached(member)
        if (loaded === undefined) return false
        try {
          for (const [facet, { doc }] of loaded.facets) {
            nodes.push(...facetNodes(facetSteps(doc), facet, member === id ? undefined : member))
          }
        } finally {
          freeObject(loaded)
        }
        return true
      })
      if (!found && member === id) throw notFound()
    }
    return foldSameWrite(causalOrder(nodes))
  }
}

function facetNodes(steps: FacetStep[], facet: FacetName, object: ObjectId | undefined): Node[] {
  const prefix = `${object ?? ''}/${facet}/`
  const nodes: Node[] = []
  for (const step of steps) {
    const entry = entryOf(step, facet, object)
    if (entry === undefined) continue
    nodes.push({
      entry,
      rank: facet === CORE_FACET ? 0 : 1,
      key: prefix + step.hash,
      deps: step.deps.map((hash) => prefix + hash),
    })
  }
  return nodes
}

/** What one change did to one facet; undefined when it changed nothing that shows. */
function entryOf(
  step: FacetStep,
  facet: FacetName,
  object: ObjectId | undefined,
): HistoryEntry | undefined {
  const { before, after } = step
  const stamps: (WriteStamp | undefined)[] = []
  let change: HistoryChange = isFirstWrite(facet, before) ? 'create' : 'edit'
  let into: string | undefined
  if (before.deleted !== after.deleted) {
    change = after.deleted ? 'delete' : 'restore'
    stamps.push(after.meta[DELETED_META])
  }
  if (!sameList(before.mergedInto, after.mergedInto)) {
    const targets = after.mergedInto ?? []
    change = targets.length > 0 ? 'merge' : 'unmerge'
    into = targets.length > 0 ? targets[0] : after.keptApart
    stamps.push(step.decidedBy)
  }
  const fields = changedFields(before, after, stamps)
  const stamp = stamps.find((found) => found !== undefined)
  if (Object.keys(fields).length === 0 && change === 'edit') return undefined
  const group = facet === CORE_FACET ? undefined : facet.slice(facet.indexOf(':') + 1)
  return {
    id: object === undefined ? step.hash : `${object}.${step.hash}`,
    at: stamp?.at ?? step.time * 1000,
    by: stamp?.by,
    change,
    fields: group === undefined ? fields : {},
    custom: group === undefined || Object.keys(fields).length === 0 ? {} : { [group]: fields },
    ...(object === undefined ? {} : { object }),
    ...(into === undefined ? {} : { into: into as ObjectId }),
  }
}

/** A core facet's first write: the object's creation (custom facets are added later). */
function isFirstWrite(facet: FacetName, before: FacetContent): boolean {
  return (
    facet === CORE_FACET &&
    Object.keys(before.meta).length === 0 &&
    !before.deleted &&
    before.mergedInto === undefined &&
    before.keptApart === undefined
  )
}

/** Fields whose value or stamp the change wrote; their stamps are added to `stamps`. */
function changedFields(
  before: FacetContent,
  after: FacetContent,
  stamps: (WriteStamp | undefined)[],
): Record<string, FieldChange> {
  const fields: Record<string, FieldChange> = {}
  const names = new Set([...Object.keys(after.meta), ...Object.keys(after.fields)])
  names.delete(DELETED_META)
  for (const name of [...names].sort()) {
    const from = before.fields[name]
    const to = after.fields[name]
    if (sameValue(from, to) && sameStamp(before.meta[name], after.meta[name])) continue
    fields[name] = { from: from ?? null, to: to ?? null }
    stamps.push(after.meta[name])
  }
  return fields
}

function sameStamp(a: WriteStamp | undefined, b: WriteStamp | undefined): boolean {
  return a?.at === b?.at && a?.by === b?.by
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const left = a ?? []
  const right = b ?? []
  return left.length === right.length && left.every((item, index) => item === right[index])
}

/**
 * The entries by time, each after every change it was made on: of the entries whose
 * dependencies are all placed, the earliest (then core before custom facets, then the
 * smallest id) goes next.
 */
function causalOrder(nodes: Node[]): HistoryEntry[] {
  const byKey = new Map(nodes.map((node) => [node.key, node]))
  const waiting = new Map<string, number>()
  const dependents = new Map<string, Node[]>()
  const ready: Node[] = []
  for (const node of nodes) {
    // A dependency that is no entry (the genesis, a change that showed nothing) is placed.
    const open = node.deps.filter((dep) => byKey.has(dep))
    waiting.set(node.key, open.length)
    for (const dep of open) {
      const list = dependents.get(dep)
      if (list === undefined) dependents.set(dep, [node])
      else list.push(node)
    }
    if (open.length === 0) ready.push(node)
  }
  ready.sort(earlierLast)
  const ordered: HistoryEntry[] = []
  while (ready.length > 0) {
    const node = ready.pop()!
    ordered.push(node.entry)
    for (const dependent of dependents.get(node.key) ?? []) {
      const left = waiting.get(dependent.key)! - 1
      waiting.set(dependent.key, left)
      if (left === 0) insertSorted(ready, dependent)
    }
  }
  return ordered
}

/** Sorts later entries first, so the earliest is popped from the end. */
function earlierLast(a: Node, b: Node): number {
  if (a.entry.at !== b.entry.at) return b.entry.at - a.entry.at
  if (a.rank !== b.rank) return b.rank - a.rank
  return a.entry.id < b.entry.id ? 1 : a.entry.id > b.entry.id ? -1 : 0
}

function insertSorted(ready: Node[], node: Node): void {
  let low = 0
  let high = ready.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (earlierLast(ready[middle]!, node) <= 0) low = middle + 1
    else high = middle
  }
  ready.splice(low, 0, node)
}

/**
 * One write of several facets (a record created with custom fields, an edit of a name and
 * a custom field) is one entry: entries next to each other by the same writer at the same
 * time on the same object are joined.
 */
function foldSameWrite(entries: HistoryEntry[]): HistoryEntry[] {
  const folded: HistoryEntry[] = []
  for (const entry of entries) {
    const last = folded.at(-1)
    if (last !== undefined && joins(last, entry)) {
      joinFields(last.fields, entry.fields)
      for (const [group, fields] of Object.entries(entry.custom)) {
        last.custom[group] = joinFields(last.custom[group] ?? {}, fields)
      }
    } else folded.push(entry)
  }
  return folded
}

function joins(last: HistoryEntry, next: HistoryEntry): boolean {
  return (
    last.by !== undefined &&
    last.by === next.by &&
    last.at === next.at &&
    last.object === next.object &&
    next.change === 'edit' &&
    (last.change === 'create' || last.change === 'edit')
  )
}

/** Adds `next` to `into`: a field written twice keeps its first `from` and last `to`. */
function joinFields(
  into: Record<string, FieldChange>,
  next: Record<string, FieldChange>,
): Record<string, FieldChange> {
  for (const [name, change] of Object.entries(next)) {
    const earlier = into[name]
    into[name] = earlier === undefined ? change : { from: earlier.from, to: change.to }
  }
  return into
}
