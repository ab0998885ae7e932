// Writing the next change of a line (see linear.ts): an edit of plain field values and
// their stamps, as Automerge.change would write it on the loaded document, in two steps so
// that the change can be signed (store/authorship.ts) before it joins the line.
import * as A from '@automerge/automerge'
import type { FieldValue } from '../../model/index.ts'
import { writeChangeColumns, type ColumnOp } from '../change-reader.ts'
import { FIELDS_OBJECT, META_OBJECT, type WriteStamp } from './layout.ts'
import {
  applyEdit,
  changeHash,
  dependencies,
  sortedRecord,
  type EditChange,
  type EditOp,
  type LinearFacet,
} from './linear.ts'
import { changeTime } from './stamps.ts'
import { sameValue } from './values.ts'

/**
 * The change that writes `patch` (null deletes a field) and its stamps after the line's
 * last change, as Automerge.change would write it on the loaded document; the facet is
 * updated to read with it. 'unchanged' when nothing differs (as changeFacetDoc decides);
 * undefined when the edit leaves the form (a list or map value, a float), to be made on
 * the loaded document instead.
 */
export function writeLinearEdit(
  facet: LinearFacet,
  patch: Record<string, FieldValue | null>,
  stamp: WriteStamp,
  actor: string,
  force: ReadonlySet<string>,
): Uint8Array | 'unchanged' | undefined {
  const edit = prepareLinearEdit(facet, patch, stamp, actor, force)
  if (edit === undefined || edit === 'unchanged') return edit
  return appendLinearEdit(facet, edit, edit.bytes) ? edit.bytes : undefined
}

/** An edit's change, written but not yet part of its line (see appendLinearEdit). */
export interface LinearEdit {
  readonly change: EditChange
  /** The change without a message. */
  readonly bytes: Uint8Array
}

/**
 * writeLinearEdit in two steps, so that the change can be signed in between: the change
 * (facet untouched), then appendLinearEdit with its bytes as stored (with the proof).
 */
export function prepareLinearEdit(
  facet: LinearFacet,
  patch: Record<string, FieldValue | null>,
  stamp: WriteStamp,
  actor: string,
  force: ReadonlySet<string>,
): LinearEdit | 'unchanged' | undefined {
  const changed = Object.entries(patch).filter(
    ([name, value]) => force.has(name) || !sameValue(facet.fields[name], value ?? undefined),
  )
  if (changed.length === 0) return 'unchanged'
  const written = `${stamp.at} ${stamp.by}`
  const ops: EditOp[] = []
  for (const [name, value] of changed) {
    const current = facet.fields[name]
    if (typeof current === 'object' || !isWritableScalar(value)) return undefined
    const fieldOp = facet.fieldOps.get(name)
    if (value === null) {
      if (fieldOp === undefined) return undefined // deleting nothing: left to Automerge
      ops.push({ action: 'del', obj: FIELDS_OBJECT, key: name, pred: [fieldOp] })
    } else if (value === current) {
      // A value written again (forced) as it is: Automerge writes no op for it, only
      // the stamp.
    } else {
      const op: EditOp = { action: 'set', obj: FIELDS_OBJECT, key: name, value, pred: [] }
      if (typeof value === 'number') op.datatype = 'int'
      if (fieldOp !== undefined) op.pred.push(fieldOp)
      ops.push(op)
    }
    const metaOp = facet.metaOps.get(name)
    ops.push({
      action: 'set',
      obj: META_OBJECT,
      key: name,
      value: written,
      pred: metaOp === undefined ? [] : [metaOp],
    })
  }
  const last = facet.lastOf.get(actor)
  const change: EditChange = {
    actor,
    seq: (last?.seq ?? 0) + 1,
    startOp: facet.maxOp + 1,
    time: changeTime(stamp),
    message: null,
    deps: dependencies(facet.heads[0]!, last?.hash),
    ops,
  }
  const bytes = encodeEdit(change)
  return bytes === undefined ? undefined : { change, bytes }
}

/**
 * Appends the prepared edit to the facet, as `bytes` (its change, with or without a
 * message): false, with the facet half-changed (drop it), when it no longer follows.
 */
export function appendLinearEdit(facet: LinearFacet, edit: LinearEdit, bytes: Uint8Array): boolean {
  if (!applyEdit(facet, edit.change, changeHash(bytes))) return false
  facet.ends.push(facet.ends.at(-1)! + bytes.length)
  facet.fields = sortedRecord(facet.fields)
  facet.meta = sortedRecord(facet.meta)
  return true
}

function isWritableScalar(value: FieldValue | null): value is string | boolean | number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value)
  return value === null || typeof value === 'string' || typeof value === 'boolean'
}

/**
 * The bytes of an edit change: by the change writer, or by Automerge.encodeChange for
 * what the writer leaves (both write the same bytes: test/store/change-writer-edits.test.ts).
 */
function encodeEdit(change: EditChange): Uint8Array | undefined {
  const others = new Set<string>()
  for (const op of change.ops) {
    others.add(actorOf(op.obj))
    for (const pred of op.pred) others.add(actorOf(pred))
  }
  others.delete(change.actor)
  const actors = [change.actor, ...[...others].sort()]
  const index = new Map(actors.map((actor, i) => [actor, i]))
  const ops: ColumnOp[] = change.ops.map((op) => {
    const [objCtr, objActor] = opIdParts(op.obj, index)
    const column: ColumnOp = {
      action: op.action,
      objActor,
      objCtr,
      key: op.key,
      elemActor: -1,
      elemCtr: 0,
      insert: false,
    }
    if (op.value !== undefined) column.value = op.value
    if (op.datatype !== undefined) column.datatype = op.datatype
    if (op.pred.length > 0) {
      column.pred = op.pred.map((pred) => {
        const [counter, actor] = opIdParts(pred, index)
        return { actor, counter }
      })
    }
    return column
  })
  const { seq, startOp, time, deps } = change
  const written = writeChangeColumns({ actors, seq, startOp, time, deps, ops })
  if (written !== undefined) return written
  try {
    return A.encodeChange(change as unknown as A.DecodedChange)
  } catch {
    return undefined // a string Automerge refuses (a lone surrogate): the loaded path's
  }
}

function actorOf(opId: string): string {
  return opId.slice(opId.indexOf('@') + 1)
}

function opIdParts(opId: string, index: ReadonlyMap<string, number>): [number, number] {
  const at = opId.indexOf('@')
  return [Number(opId.slice(0, at)), index.get(opId.slice(at + 1))!]
}
