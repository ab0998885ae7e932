// The order of a history's entries, and one write of several facets shown as one entry.
//
// Entries are ordered by their stamps' times, but never before a change they were made on
// (a writer's clock may be behind): of the entries whose dependencies are all placed, the
// earliest goes next, core before custom facets, then the smallest id — the same order on
// every instance, whatever order the changes arrived in. A change that shows nothing stays
// in the graph, so what depends on it still follows what it followed.
import type { FieldChange, HistoryEntry } from './history.ts'

/** An entry as built, before its page is checked for who wrote it. */
export interface BuiltEntry {
  entry: Omit<HistoryEntry, 'verified'>
  /** The ids of the changes folded into it after its first: each is a cursor too. */
  aliases: string[]
  /** The facet and bytes of each change it holds, to check their authorship proofs. */
  proofs: { facet: string; bytes: Uint8Array }[]
  /** The facets whose changes it holds: one write makes one change per facet. */
  facets: Set<string>
}

export interface HistoryNode {
  /** Undefined for a change that shows nothing. */
  built: BuiltEntry | undefined
  at: number
  /** 0 for the core facet, 1 for custom ones: a create is placed before its custom fields. */
  rank: number
  /** Unique within the history: the same hash may stand in two merged objects' facets. */
  key: string
  deps: string[]
}

export function causalOrder(nodes: HistoryNode[]): BuiltEntry[] {
  const known = new Set(nodes.map((node) => node.key))
  const waiting = new Map<string, number>()
  const dependents = new Map<string, HistoryNode[]>()
  const ready: HistoryNode[] = []
  for (const node of nodes) {
    // A dependency not in the graph (the genesis, a change older than those read) is placed.
    const open = node.deps.filter((dep) => known.has(dep))
    waiting.set(node.key, open.length)
    for (const dep of open) {
      const list = dependents.get(dep)
      if (list === undefined) dependents.set(dep, [node])
      else list.push(node)
    }
    if (open.length === 0) ready.push(node)
  }
  ready.sort(earlierLast)
  const ordered: BuiltEntry[] = []
  while (ready.length > 0) {
    const node = ready.pop()!
    if (node.built !== undefined) ordered.push(node.built)
    for (const dependent of dependents.get(node.key) ?? []) {
      const left = waiting.get(dependent.key)! - 1
      waiting.set(dependent.key, left)
      if (left === 0) insertSorted(ready, dependent)
    }
  }
  return ordered
}

/** Sorts later entries first, so the earliest is popped from the end. */
function earlierLast(a: HistoryNode, b: HistoryNode): number {
  if (a.at !== b.at) return b.at - a.at
  if (a.rank !== b.rank) return b.rank - a.rank
  return a.key < b.key ? 1 : a.key > b.key ? -1 : 0
}

function insertSorted(ready: HistoryNode[], node: HistoryNode): void {
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
 * time on the same object, each of another facet, are joined.
 */
export function foldSameWrite(entries: BuiltEntry[]): BuiltEntry[] {
  const folded: BuiltEntry[] = []
  for (const built of entries) {
    const last = folded.at(-1)
    const facet = built.proofs[0]!.facet
    if (last !== undefined && !last.facets.has(facet) && joins(last.entry, built.entry)) {
      joinFields(last.entry.fields, built.entry.fields)
      for (const [group, fields] of Object.entries(built.entry.custom)) {
        last.entry.custom[group] = joinFields(last.entry.custom[group] ?? {}, fields)
      }
      last.aliases.push(built.entry.id, ...built.aliases)
      last.proofs.push(...built.proofs)
      last.facets.add(facet)
    } else folded.push(built)
  }
  return folded
}

function joins(last: HistoryEntry | BuiltEntry['entry'], next: BuiltEntry['entry']): boolean {
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
