// An object's history, built from its documents' own changes and the write stamps they
// carry: who changed what, when, from what to what. Nothing is logged beside the
// documents, so every instance that holds the record reads the same history, including
// what happened before it was paired. A survivor of merges shows the history of the
// objects merged into it too, each entry saying which object it was written on. The order
// is history-order.ts's; who wrote a change is checked against its authorship proof
// (authorship.ts) for the entries of the page asked for.
import { ObjectSyncError } from '../../errors.ts'
import { provesAuthor } from '../authorship.ts'
import {
  CORE_FACET,
  facetId,
  isObjectId,
  type FacetId,
  type FacetName,
  type FieldValue,
  type InstanceId,
  type ObjectId,
} from '../../model/index.ts'
import { DELETED_META, sameValue, type FacetContent, type WriteStamp } from '../facet-doc.ts'
import { facetSteps, type FacetStep } from '../facet-doc/history.ts'
import type { StoreCore } from './core.ts'
import { causalOrder, foldSameWrite, type BuiltEntry, type HistoryNode } from './history-order.ts'
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
  /** The instance its stamp names; undefined for a change that carries no stamp. */
  by: InstanceId | undefined
  /**
   * Whether the change carries a proof that `by` signed it. A peer can write any stamp:
   * an unproven `by` is only what the change claims.
   */
  verified: boolean
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
  /**
   * Changes too old to be read (facet-doc/history.ts: only a facet that is not one line of
   * plain edits, past its latest MAX_VIEWED_CHANGES): 0 for nearly every record.
   */
  omitted: number
}

export const DEFAULT_HISTORY_LIMIT = 100
export const MAX_HISTORY_LIMIT = 1000

export class ObjectHistory {
  /** Pages asked for since the store was made (for /metrics). */
  pagesRead = 0

  constructor(private readonly core: StoreCore) {}

  async page(id: ObjectId, options: { limit?: number; before?: string }): Promise<HistoryPage> {
    this.pagesRead++
    const limit = options.limit ?? DEFAULT_HISTORY_LIMIT
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
      throw new ObjectSyncError(
        'INVALID_CURSOR',
        `limit: expected an integer from 1 to ${MAX_HISTORY_LIMIT}`,
      )
    }
    const { built, omitted } = await this.entries(id)
    let end = built.length
    const cursor = options.before
    if (cursor !== undefined) {
      // Any change folded into an entry names it: a change that arrived after the page
      // was read may have joined the entry the cursor named.
      end = built.findIndex(({ entry, aliases }) => entry.id === cursor || aliases.includes(cursor))
      if (end < 0) {
        throw new ObjectSyncError(
          'INVALID_CURSOR',
          `before: expected the "next" of a previous page of this object's history`,
        )
      }
    }
    const start = Math.max(0, end - limit)
    return {
      entries: built.slice(start, end).map(verified),
      next: start > 0 ? built[start]!.entry.id : null,
      omitted,
    }
  }

  /** The whole history, oldest first. Throws OBJECT_NOT_FOUND for an object not stored. */
  private async entries(id: ObjectId): Promise<{ built: BuiltEntry[]; omitted: number }> {
    this.core.openCommits()
    const notFound = () =>
      new ObjectSyncError('OBJECT_NOT_FOUND', `no object has the id ${id}`, { details: { id } })
    if (!isObjectId(id)) throw notFound()
    const nodes: HistoryNode[] = []
    let omitted = 0
    for (const member of [id, ...this.core.identities.mergedInto(id)]) {
      const found = await this.core.locks.run(member, async () => {
        const loaded = await this.core.loadDetached(member)
        if (loaded === undefined) return false
        try {
          const object = member === id ? undefined : member
          const memberNodes: HistoryNode[] = []
          for (const [facet, { doc }] of loaded.facets) {
            const history = facetSteps(doc)
            omitted += history.omitted
            memberNodes.push(...facetNodes(history.steps, facetId(member, facet), facet, object))
          }
          nodes.push(...afterCreate(memberNodes))
        } finally {
          freeObject(loaded)
        }
        return true
      })
      if (!found && member === id) throw notFound()
      // A long history is read facet by facet: let other work run between objects.
      await new Promise((resolve) => setImmediate(resolve))
    }
    return { built: foldSameWrite(causalOrder(nodes)), omitted }
  }
}

/** Proven only when every change the entry holds proves its writer: one forged is enough. */
function verified({ entry, proofs }: BuiltEntry): HistoryEntry {
  const { by } = entry
  const proven =
    by !== undefined && proofs.every(({ facet, bytes }) => provesAuthor(facet, bytes, by))
  return { ...entry, verified: proven }
}

function facetNodes(
  steps: FacetStep[],
  facetKey: FacetId,
  facet: FacetName,
  object: ObjectId | undefined,
): HistoryNode[] {
  const prefix = `${object ?? ''}/${facet}/`
  return steps.map((step) => {
    const entry = entryOf(step, facet, object)
    return {
      built:
        entry === undefined
          ? undefined
          : {
              entry,
              aliases: [],
              proofs: [{ facet: facetKey, bytes: step.bytes }],
              facets: new Set([facetKey]),
            },
      at: entry?.at ?? step.time * 1000,
      rank: facet === CORE_FACET ? 0 : 1,
      key: prefix + step.hash,
      deps: step.deps.map((hash) => prefix + hash),
    }
  })
}

/**
 * A custom facet's first changes were made on the object as created, though no change of
 * theirs names the core facet's: they are made to follow its create, as they did where
 * they were written, whatever the writers' clocks say.
 */
function afterCreate(nodes: HistoryNode[]): HistoryNode[] {
  const create = nodes.find((node) => node.rank === 0 && node.built?.entry.change === 'create')
  if (create === undefined) return nodes
  const keys = new Set(nodes.map((node) => node.key))
  for (const node of nodes) {
    if (node.rank === 1 && node.deps.every((dep) => !keys.has(dep))) node.deps.push(create.key)
  }
  return nodes
}

/** What one change did to one facet; undefined when it changed nothing that shows. */
function entryOf(
  step: FacetStep,
  facet: FacetName,
  object: ObjectId | undefined,
): BuiltEntry['entry'] | undefined {
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
    // A peer's past change may hold anything there: only an object id is shown.
    ...(isObjectId(into) ? { into } : {}),
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
