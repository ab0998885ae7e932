// What a peer's bytes claim, checked before Automerge builds it or the store keeps it:
// rows, inflated sizes and op numbers (see change-reader/row-count.ts).
import * as A from '@automerge/automerge'
import { ObjectSyncError } from '../../errors.ts'
import { oversizedColumns } from '../change-reader/row-count.ts'

type Doc = A.Doc<unknown>

/**
 * Throws INVALID_CHANGES when the bytes' columns claim more rows than any facet holds,
 * or op numbers past the ops the document would hold with them (change-reader/row-count.ts):
 * refused before Automerge builds them.
 */
export function refuseOversized(bytes: Uint8Array, what: 'changes' | 'document', base?: Doc): void {
  const heldOps = what === 'changes' ? undefined : base === undefined ? 0 : A.stats(base).numOps
  const problem = oversizedColumns(bytes, heldOps)
  if (problem !== undefined) {
    throw new ObjectSyncError('INVALID_CHANGES', `the ${what} was refused: ${problem}`)
  }
}

/**
 * Why the changes applied to a document since `before` must not stay: one numbers its ops
 * past every op the document's changes hold (see oversizedColumns). Checked once applied,
 * on the changes Automerge applied: a change waiting for its dependencies is not built
 * (it claims nothing yet), and is checked when they arrive.
 *
 * The ops of all its changes, deletes included, bound every honest op number. The stored
 * ops (deletes are not stored) plus the new changes' ops read quickly and mostly suffice;
 * only past them are all the changes counted.
 */
export function opNumbersPastOps(next: Doc, before: A.Heads): string | undefined {
  const applied = A.getChangesMetaSince(next, before)
  if (applied.length === 0) return undefined
  const highest = applied.reduce((most, change) => Math.max(most, change.maxOp), 0)
  if (highest <= A.stats(next).numOps + opsOf(applied)) return undefined
  const held = opsOf(A.getChangesMetaSince(next, []))
  if (highest <= held) return undefined
  return `a change numbers its ops up to ${highest.toLocaleString('en')}, past the ${held.toLocaleString('en')} ops the document's changes hold`
}

function opsOf(changes: readonly A.ChangeMetadata[]): number {
  return changes.reduce((sum, change) => sum + change.maxOp - change.startOp + 1, 0)
}
