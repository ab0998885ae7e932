// A facet's history, read from its Automerge document: every change after the genesis,
// with the facet's content as the change's writer saw it (at the change's dependencies)
// and as it left it (at the change itself). Reading at those heads rather than replaying
// in order gives the same answer on every instance, whatever order concurrent changes
// arrived in.
import * as A from '@automerge/automerge'
import { GENESIS_ACTOR, type Doc, type FacetContent, type WriteStamp } from './layout.ts'
import { readFacetDoc } from './read.ts'
import { decodeStamp } from './stamps.ts'

export interface FacetStep {
  /** The change's hash: unique, and the same on every instance. */
  hash: string
  /** The changes of this facet it was made on. */
  deps: string[]
  /** Automerge's change time (whole seconds), for a change that wrote no stamp. */
  time: number
  before: FacetContent
  after: FacetContent
  /** Who decided the merge or unmerge the facet records after the change. */
  decidedBy: WriteStamp | undefined
}

/** Every change of the facet but its genesis, in the document's (causal) order. */
export function facetSteps(doc: Doc): FacetStep[] {
  const steps: FacetStep[] = []
  let last: FacetStep | undefined
  // Metadata only: decoding every change's ops would cost as much again.
  for (const change of A.getChangesMetaSince(doc, [])) {
    if (change.actor === GENESIS_ACTOR) continue
    const after = A.view(doc, [change.hash])
    // Most histories are a line: what a change saw is what the one before it left.
    const follows = change.deps.length === 1 && change.deps[0] === last?.hash
    last = {
      hash: change.hash,
      deps: change.deps,
      time: change.time,
      before: follows ? last!.after : readFacetDoc(A.view(doc, change.deps)),
      after: readFacetDoc(after),
      // Read here: the content has it only while the object is merged, not after an unmerge.
      decidedBy: decodeStamp(after.mergedBy),
    }
    steps.push(last)
  }
  return steps
}
