// A reader for the one kind of Automerge change a new facet is made of, in plain
// TypeScript. Automerge.decodeChange spends about 50 µs of its 70 µs per small change
// turning the ops into JavaScript objects through serde; this reads the same binary
// format (the change chunk of the Automerge storage format: a header, then the op
// columns, run-length, delta and boolean encoded) in about a tenth of the time, which
// is most of what a receiver spends per object in a first sync.
//
// It is deliberately narrow: one uncompressed change chunk, a message of at most 1 KiB
// (an authorship proof), no extra
// columns or bytes, only map/list creation, plain scalar sets and deletes of map keys.
// Ops on map keys may have predecessors (the ops they overwrite or delete), so an edit
// of a facet's root maps reads too; inserts have none, and list elements are never
// overwritten or deleted here. For anything else it returns undefined and the caller falls back to Automerge's own
// decoder, so it never has to read a form it was not tested against. The differential
// tests hold it to Automerge.decodeChange on valid and on mutated input.
//
// The same narrow form is written back, for the change that creates a facet or edits
// its maps' keys, by writeChangeColumns: byte for byte as Automerge.encodeChange writes it, held to it by
// its own differential tests, in a quarter of the time.
//
// This module is the face the store imports; the work is in change-reader/:
//   byte-cursor.ts       LEB128 integers and strings, canonical forms only
//   column-encodings.ts  run-length, delta and boolean columns
//   change-chunk.ts      a change chunk into ColumnOps (readChangeColumns)
//   byte-writer.ts       the inverse of byte-cursor.ts
//   column-writers.ts    the inverse of column-encodings.ts
//   change-writer.ts     ColumnOps into a change chunk, as Automerge writes it
//                        (writeChangeColumns), for a new facet's change or an edit
import { readChangeColumns, type ChangeColumns } from './change-reader/change-chunk.ts'
import { writeChangeColumns } from './change-reader/change-writer.ts'

export {
  readChangeColumns,
  type ChangeColumns,
  type ColumnOp,
  type ColumnPred,
} from './change-reader/change-chunk.ts'
export { writeChangeColumns, type NewChange } from './change-reader/change-writer.ts'

export interface ReadChangeOp {
  action: 'set' | 'makeList' | 'makeMap' | 'del'
  obj: string
  key?: string
  elemId?: string
  insert?: boolean
  value?: string | number | boolean | null
  datatype?: 'int' | 'uint' | 'float64'
  pred: string[]
}

export interface ReadChange {
  actor: string
  hash: string
  seq: number
  startOp: number
  time: number
  message: string | null
  deps: string[]
  ops: ReadChangeOp[]
}

/**
 * readChangeColumns, for bytes in the one form Automerge writes: the change is written
 * again and must come out byte for byte the same. Automerge loads some other encodings of
 * a change (an unused actor, an empty column, a run written out long), but not always the
 * snapshot it saves of them again, and once stored such a change makes its object
 * unloadable: what comes from a peer and is stored without Automerge must pass this.
 */
export function readCanonicalChange(bytes: Uint8Array): ChangeColumns | undefined {
  const change = readChangeColumns(bytes)
  if (change === undefined) return undefined
  // The checksum is not written again: the reader checked it, and it covers the rest.
  const again = writeChangeColumns(change, undefined, false)
  if (again?.length !== bytes.length) return undefined
  const skip = 8 // magic and checksum
  const same = Buffer.from(again.buffer, again.byteOffset + skip, again.length - skip).equals(
    bytes.subarray(skip),
  )
  return same ? change : undefined
}

/**
 * The change in `bytes` (exactly one change chunk), as Automerge.decodeChange would
 * give it, or undefined when the bytes are not of the narrow form this reader takes.
 * Checks the chunk's checksum as Automerge does.
 */
export function readSimpleChange(bytes: Uint8Array): ReadChange | undefined {
  const change = readChangeColumns(bytes)
  if (change === undefined) return undefined
  const { actors } = change
  const ops = change.ops.map((column): ReadChangeOp => {
    const obj = column.objActor < 0 ? '_root' : `${column.objCtr}@${actors[column.objActor]!}`
    const pred = (column.pred ?? []).map(({ actor, counter }) => `${counter}@${actors[actor]!}`)
    const op: ReadChangeOp = { action: column.action, obj, pred }
    if (column.key !== undefined) op.key = column.key
    else if (column.elemActor < 0) op.elemId = '_head'
    else op.elemId = `${column.elemCtr}@${actors[column.elemActor]!}`
    if (column.insert) op.insert = true
    if (column.value !== undefined) op.value = column.value
    if (column.datatype !== undefined) op.datatype = column.datatype
    return op
  })
  const { hash, seq, startOp, time, deps } = change
  return { actor: actors[0]!, hash, seq, startOp, time, message: change.message ?? null, deps, ops }
}
