// A facet's history, read from its Automerge document: every change after the genesis,
// with the facet's content as the change's writer saw it (at the change's dependencies)
// and as it left it (at the change itself), so every instance reads the same whatever
// order concurrent changes arrived in.
//
// A facet that is one line of plain edits (nearly every record: see linear.ts) is read
// change by change from its change chunks, in time that grows with the changes. Any other
// is read through Automerge, at each change's heads: a read there costs time that grows
// with the whole history (each overwritten value of a key is kept, and Automerge looks
// through them), so only the latest MAX_VIEWED_CHANGES are read that way — a peer sending
// thousands of concurrent changes can't make a history read take minutes — and the
// rest are counted as omitted.
import * as A from '@automerge/automerge'
import { GENESIS_ACTOR, type Doc, type FacetContent, type WriteStamp } from './layout.ts'
import { readLinearFacet } from './linear.ts'
import { readFacetDoc } from './read.ts'
import { decodeStamp } from './stamps.ts'

export const MAX_VIEWED_CHANGES = 256

export interface FacetStep {
  /** The change's hash: unique, and the same on every instance. */
  hash: string
  /** The changes of this facet it was made on. */
  deps: string[]
  /** Automerge's change time (whole seconds), for a change that wrote no stamp. */
  time: number
  /** The change as stored, with its authorship proof: to check who wrote it. */
  bytes: Uint8Array
  before: FacetContent
  after: FacetContent
  /** Who decided the merge or unmerge the facet records after the change. */
  decidedBy: WriteStamp | undefined
}

export interface FacetHistory {
  steps: FacetStep[]
  /** Older changes not read (only a history that is not a line has any). */
  omitted: number
}

/** The facet's changes after its genesis, in causal order. */
export function facetSteps(doc: Doc): FacetHistory {
  const metas = A.getChangesMetaSince(doc, [])
  const chunks = A.getAllChanges(doc)
  let line: FacetHistory | undefined
  try {
    line = lineSteps(chunks, metas)
  } catch {
    // Bytes the narrow reader refuses outright: Automerge reads them below.
  }
  return line ?? viewedSteps(doc, metas)
}

type ChangeMeta = ReturnType<typeof A.getChangesMetaSince>[number]

/** The steps of a facet that is a line (linear.ts), or undefined when it is not one. */
function lineSteps(chunks: Uint8Array[], metas: ChangeMeta[]): FacetHistory | undefined {
  const byHash = new Map(metas.map((meta) => [meta.hash, meta]))
  const bytes = Buffer.concat(chunks)
  const steps: FacetStep[] = []
  let before: FacetContent = { type: undefined, fields: {}, meta: {}, deleted: false }
  let broken = false
  const line = readLinearFacet(bytes, {
    storedUpTo: bytes.length,
    onChange(facet, chunk) {
      const meta = byHash.get(facet.heads[0]!)
      if (meta === undefined) {
        broken = true
        return
      }
      const after = {
        type: facet.type,
        fields: { ...facet.fields },
        meta: { ...facet.meta },
        deleted: false,
      }
      steps.push({
        hash: meta.hash,
        deps: meta.deps,
        time: meta.time,
        bytes: chunk,
        before,
        after,
        decidedBy: undefined,
      })
      before = after
    },
  })
  return line === undefined || broken ? undefined : { steps, omitted: 0 }
}

/** The latest MAX_VIEWED_CHANGES changes, each read at its dependencies and at itself. */
function viewedSteps(doc: Doc, metas: ChangeMeta[]): FacetHistory {
  const backend = A.getBackend(doc)
  const changes = metas.filter((meta) => meta.actor !== GENESIS_ACTOR)
  const viewed = latest(changes, MAX_VIEWED_CHANGES)
  const steps: FacetStep[] = []
  for (const change of viewed) {
    const bytes = backend.getChangeByHash(change.hash)
    if (bytes === null) continue
    const after = A.view(doc, [change.hash])
    steps.push({
      hash: change.hash,
      deps: change.deps,
      time: change.time,
      bytes,
      before: readFacetDoc(A.view(doc, change.deps)),
      after: readFacetDoc(after),
      // Read here: the content has it only while the object is merged, not after an unmerge.
      decidedBy: decodeStamp(after.mergedBy),
    })
  }
  return { steps, omitted: changes.length - viewed.length }
}

/**
 * The `count` latest changes, chosen alike on every instance: from the heads back, of the
 * changes whose every later change is taken, the one with the latest time (then the
 * largest hash) is taken next. The set holds every change made on any it holds, so what
 * is read is a whole later part of the history. In causal order.
 */
function latest(changes: ChangeMeta[], count: number): ChangeMeta[] {
  if (changes.length <= count) return changes
  const children = new Map<string, number>()
  for (const change of changes) {
    for (const dep of change.deps) children.set(dep, (children.get(dep) ?? 0) + 1)
  }
  const byHash = new Map(changes.map((change) => [change.hash, change]))
  const later = (a: ChangeMeta, b: ChangeMeta) =>
    a.time !== b.time ? a.time - b.time : a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0
  const ready = changes.filter((change) => !children.has(change.hash)).sort(later)
  const taken = new Set<string>()
  while (taken.size < count && ready.length > 0) {
    const change = ready.pop()!
    taken.add(change.hash)
    for (const dep of change.deps) {
      const left = children.get(dep)! - 1
      children.set(dep, left)
      const parent = byHash.get(dep)
      if (left === 0 && parent !== undefined) {
        const at = ready.findIndex((other) => later(other, parent) > 0)
        ready.splice(at < 0 ? ready.length : at, 0, parent)
      }
    }
  }
  return changes.filter((change) => taken.has(change.hash))
}
