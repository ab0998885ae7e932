// Writes one Automerge change chunk from its ops as the columns hold them (ColumnOp): the
// inverse of change-chunk.ts, for the same narrow form, and byte for byte what
// Automerge.encodeChange writes for the same change, so that a new facet's bytes and
// hash are the ones Automerge would have made. encodeChange spends ≈ 35 µs on a person's
// change, most of it a JSON round trip into wasm before the columns and the hash; this
// writes the columns directly, in ≈ 8 µs (of which the hash and the output array ≈ 2).
//
// Automerge's choices it follows (read from its encoders, and held to encodeChange by
// test/store/change-writer.test.ts):
// - a run-length column writes a repetition for two or more equal neighbours, literals
//   for the values between, and a null run for nulls; a column null throughout is empty;
// - a delta column is run-length encoded over the differences from the last value;
// - a boolean column alternates run lengths from false (a leading 0 when it starts true);
// - an empty column is left out of the column table (so no predecessor actor and
//   counter columns when no op has predecessors);
// - the predecessor columns hold a row per predecessor: a run-length actor column and a
//   delta counter column running on across ops, after the per-op count column;
// - an op's predecessors in ascending order of counter, then of actor id (bytes, which
//   for lowercase hex is the order of the strings): encodeChange sorts them so, and
//   decodeChange gives them so whatever order the bytes hold. This writer does not sort:
//   it refuses predecessors out of that order (or one twice) with NotWritable, so that a
//   caller's ops are written as given or not at all;
// - a delete ('del', action 3) has no value: metadata 0, nothing in the value column;
// - the other actors are the ones the ops refer to (their objects, list elements and
//   predecessors), once each, sorted, author excluded.
import { hash } from 'node:crypto'
import { ByteWriter, NotWritable, utf8Size } from './byte-writer.ts'
import type { ChangeColumns, ColumnOp, ColumnPred } from './change-chunk.ts'
import { writeBooleans, writeDelta, writeRle, writeString, writeUleb } from './column-writers.ts'
import * as format from './change-format.ts'

/** A change to write: ChangeColumns without the hash, which its bytes decide. */
export type NewChange = Omit<ChangeColumns, 'hash'>

const EMPTY = new Uint8Array(0)

const ACTIONS = {
  makeMap: format.ACTION_MAKE_MAP,
  set: format.ACTION_SET,
  makeList: format.ACTION_MAKE_LIST,
  del: format.ACTION_DEL,
} as const

/**
 * The bytes of `change` as one change chunk, exactly as Automerge.encodeChange writes
 * them, or undefined when the change is not of the narrow form this writes: only
 * makeMap, makeList and sets of strings, booleans and safe integers ('int' or 'uint'),
 * and deletes ('del') of map keys; predecessors only on ops on map keys (at least one on
 * a delete), each an op before this one, in Automerge's order (ascending by counter,
 * then by actor id; see above); `actors` the author first, then each other actor the ops refer
 * to once, in ascending order; lowercase hex ids. With `before`, the bytes
 * returned are those followed by the chunk (one array instead of two to join).
 */
export function writeChangeColumns(
  change: NewChange,
  before: Uint8Array = EMPTY,
  /** false: the checksum's four bytes are left zero (to compare the rest only). */
  checksum = true,
): Uint8Array | undefined {
  try {
    return write(change, before, checksum)
  } catch (error) {
    if (error instanceof NotWritable) return undefined
    throw error
  }
}

// Reused from one change to the next (a new facet is written thousands of times a
// second): the change's header, its columns, the values of its value column, and the
// chunk's own header.
const headBuffer = new ByteWriter()
const columnBuffer = new ByteWriter()
const valueBuffer = new ByteWriter()
const chunkBuffer = new ByteWriter()

function write(change: NewChange, before: Uint8Array, checksum: boolean): Uint8Array {
  const head = headBuffer
  head.reset()
  columnBuffer.reset()
  valueBuffer.reset()
  const { actors, deps } = change
  const rows = opRows(change.ops, actors, change.startOp, valueBuffer)
  const table = writeColumns(rows, valueBuffer, columnBuffer)
  // Automerge writes the dependencies sorted: take them only so.
  if (deps.some((dep, i) => dep.length !== 64 || (i > 0 && deps[i - 1]! >= dep))) {
    throw new NotWritable()
  }
  head.uleb(deps.length)
  for (const dep of deps) head.hex(dep)
  writeActor(head, actors[0])
  head.uleb(positive(change.seq))
  head.uleb(positive(change.startOp))
  if (change.startOp + change.ops.length > format.MAX_COUNTER) throw new NotWritable()
  if (!Number.isSafeInteger(change.time)) throw new NotWritable()
  head.sleb(change.time)
  if (change.message === undefined || change.message === '') head.uleb(0)
  else {
    const size = utf8Size(change.message)
    head.uleb(size)
    head.utf8(change.message, size)
  }
  head.uleb(actors.length - 1)
  for (let i = 1; i < actors.length; i++) writeActor(head, actors[i])
  head.uleb(table.length / 2)
  for (const number of table) head.uleb(number)
  return chunk(before, head, columnBuffer, checksum)
}

/** `before`, then the chunk around a body of `head` then `data`. */
function chunk(
  before: Uint8Array,
  head: ByteWriter,
  data: ByteWriter,
  checksum: boolean,
): Uint8Array {
  const prefix = chunkBuffer
  prefix.reset()
  prefix.bytes.set(format.MAGIC)
  prefix.length = 8 // the checksum's place
  prefix.byte(format.CHANGE_CHUNK)
  prefix.uleb(head.length + data.length)
  const start = before.length
  const out = new Uint8Array(start + prefix.length + head.length + data.length)
  out.set(before)
  out.set(prefix.written(), start)
  out.set(head.written(), start + prefix.length)
  out.set(data.written(), start + prefix.length + head.length)
  // The checksum: the first four bytes of the change's hash, which covers type onwards.
  if (checksum) out.set(hash('sha256', out.subarray(start + 8), 'buffer').subarray(0, 4), start + 4)
  return out
}

/** The ops as the rows of their columns, before each column is encoded. */
interface Rows {
  count: number
  objActor: (number | null)[]
  objCtr: (number | null)[]
  keyActor: (number | null)[]
  keyCtr: (number | null)[]
  keyStr: (string | null)[]
  insert: boolean[]
  action: number[]
  valueMeta: number[]
  predCount: number[]
  /** A row per predecessor, of all ops in turn. */
  predActor: number[]
  predCtr: number[]
}

/**
 * The ops as rows, their values written into `raw` on the way; checks them against the
 * narrow form, and `actors` against the actors they refer to.
 */
function opRows(ops: ColumnOp[], actors: string[], startOp: number, raw: ByteWriter): Rows {
  const count = ops.length
  const rows: Rows = {
    count,
    objActor: new Array<number | null>(count),
    objCtr: new Array<number | null>(count),
    keyActor: new Array<number | null>(count),
    keyCtr: new Array<number | null>(count),
    keyStr: new Array<string | null>(count),
    insert: new Array<boolean>(count),
    action: new Array<number>(count),
    valueMeta: new Array<number>(count),
    predCount: new Array<number>(count),
    predActor: [],
    predCtr: [],
  }
  // Which of the other actors the ops refer to: Automerge lists exactly those.
  const referred = new Array<boolean>(actors.length).fill(false)
  for (let i = 0; i < count; i++) {
    const op = ops[i]!
    const isRoot = op.objActor < 0
    rows.objActor[i] = isRoot ? null : checkedActor(op.objActor, op.objCtr, actors, referred)
    rows.objCtr[i] = isRoot ? null : op.objCtr
    if (op.key !== undefined) {
      if (op.insert) throw new NotWritable()
      rows.keyActor[i] = rows.keyCtr[i] = null
      rows.keyStr[i] = op.key
    } else {
      // No element overwrites here: a list op inserts, after the head (no actor,
      // counter 0) or after an element.
      if (!op.insert) throw new NotWritable()
      const isHead = op.elemActor < 0
      rows.keyActor[i] = isHead ? null : checkedActor(op.elemActor, op.elemCtr, actors, referred)
      rows.keyCtr[i] = isHead ? 0 : op.elemCtr
      rows.keyStr[i] = null
    }
    rows.insert[i] = op.insert
    // (An unknown action can only come from an untyped caller.)
    rows.action[i] = ACTIONS[op.action] ?? fail()
    rows.valueMeta[i] = op.action === 'set' ? writeValue(op, raw) : noValue(op)
    const preds = op.pred
    const predCount = preds === undefined ? 0 : preds.length
    if (predCount > 0) {
      // Only an op on a map key overwrites or deletes (an insert has nothing before it).
      if (op.key === undefined) throw new NotWritable()
      predRows(preds!, startOp + i, actors, referred, rows)
    } else if (op.action === 'del') {
      throw new NotWritable() // a delete of nothing
    }
    rows.predCount[i] = predCount
  }
  if (actors.length === 0 || referred.slice(1).includes(false)) throw new NotWritable()
  checkActorOrder(actors)
  return rows
}

/**
 * Writes the columns of `rows` (and the values in `raw`) into `data`, in the order of
 * their specs, and returns the column table: (spec, length) of each that is not empty.
 */
function writeColumns(rows: Rows, raw: ByteWriter, data: ByteWriter): number[] {
  const table = new ColumnTable(data)
  writeRle(data, rows.objActor, writeUleb)
  table.end(format.OBJ_ACTOR)
  writeRle(data, rows.objCtr, writeUleb)
  table.end(format.OBJ_CTR)
  writeRle(data, rows.keyActor, writeUleb)
  table.end(format.KEY_ACTOR)
  writeDelta(data, rows.keyCtr)
  table.end(format.KEY_CTR)
  writeRle(data, rows.keyStr, writeString)
  table.end(format.KEY_STR)
  writeBooleans(data, rows.insert)
  table.end(format.INSERT)
  writeRle(data, rows.action, writeUleb)
  table.end(format.ACTION)
  writeRle(data, rows.valueMeta, writeUleb)
  table.end(format.VALUE_META)
  data.append(raw.written())
  table.end(format.VALUE_RAW)
  if (rows.predActor.length === 0) {
    // No predecessors (a new facet's change): a run of zero counts (a lone one a
    // literal, as writeRle would write it), and no predecessor actor or counter column.
    if (rows.count > 0) {
      data.sleb(rows.count === 1 ? -1 : rows.count)
      data.byte(0)
    }
    table.end(format.PRED_COUNT)
    return table.entries
  }
  writeRle(data, rows.predCount, writeUleb)
  table.end(format.PRED_COUNT)
  writeRle(data, rows.predActor, writeUleb)
  table.end(format.PRED_ACTOR)
  writeDelta(data, rows.predCtr)
  table.end(format.PRED_CTR)
  return table.entries
}

/**
 * Adds the predecessors of the op numbered `opCounter` to the predecessor rows, after
 * checking each names an op (the author's only before this one), and that they are in
 * Automerge's order: ascending by counter, then by actor id, none twice.
 */
function predRows(
  preds: ColumnPred[],
  opCounter: number,
  actors: string[],
  referred: boolean[],
  rows: Rows,
): void {
  let lastCounter = 0
  let lastActor = ''
  for (let j = 0; j < preds.length; j++) {
    const { actor, counter } = preds[j]!
    checkedActor(actor, counter, actors, referred)
    const id = actors[actor]!
    if (counter < lastCounter || (counter === lastCounter && id <= lastActor)) {
      throw new NotWritable()
    }
    if (actor === 0 && counter >= opCounter) throw new NotWritable()
    rows.predActor.push(actor)
    rows.predCtr.push(counter)
    lastCounter = counter
    lastActor = id
  }
}

/** The column table as the columns are written: (spec, length) of each that is not empty. */
class ColumnTable {
  readonly entries: number[] = []
  private start: number

  constructor(private readonly data: ByteWriter) {
    this.start = data.length
  }

  /** Ends the column written since the last one ended. */
  end(spec: number): void {
    const { length } = this.data
    if (length > this.start) this.entries.push(spec, length - this.start)
    this.start = length
  }
}

/** `actor` (an index into `actors`), after checking it names an op; marks it referred to. */
function checkedActor(actor: number, counter: number, actors: string[], referred: boolean[]) {
  if (
    !Number.isInteger(actor) ||
    actor < 0 ||
    actor >= actors.length ||
    !Number.isInteger(counter) ||
    counter <= 0 ||
    counter > format.MAX_COUNTER
  ) {
    throw new NotWritable()
  }
  referred[actor] = true
  return actor
}

/** The other actors (after the author) must be in ascending order, none the author. */
function checkActorOrder(actors: string[]): void {
  for (let i = 1; i < actors.length; i++) {
    if (actors[i] === actors[0] || (i > 1 && actors[i - 1]! >= actors[i]!)) {
      throw new NotWritable()
    }
  }
}

/** Writes a set's value into `raw` and returns its metadata. */
function writeValue(op: ColumnOp, raw: ByteWriter): number {
  const { value } = op
  if (typeof value === 'string') {
    if (op.datatype !== undefined) throw new NotWritable()
    const size = utf8Size(value)
    raw.utf8(value, size)
    return size * 16 + format.VALUE_STRING
  }
  if (typeof value === 'boolean') {
    if (op.datatype !== undefined) throw new NotWritable()
    return value ? format.VALUE_TRUE : format.VALUE_FALSE
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new NotWritable()
  const start = raw.length
  if (op.datatype === 'int') raw.sleb(value)
  else if (op.datatype === 'uint' && value >= 0) raw.uleb(value)
  else throw new NotWritable() // a float, or a number without a type
  return (raw.length - start) * 16 + (op.datatype === 'int' ? format.VALUE_INT : format.VALUE_UINT)
}

/** makeMap, makeList and del carry no value: null metadata. */
function noValue(op: ColumnOp): number {
  if (op.value !== undefined || op.datatype !== undefined) throw new NotWritable()
  return format.VALUE_NULL
}

function fail(): never {
  throw new NotWritable()
}

function positive(value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new NotWritable()
  return value
}

function writeActor(out: ByteWriter, actor: string | undefined): void {
  const text = actor ?? ''
  out.uleb(text.length / 2)
  out.hex(text) // (refuses an odd length, before the bytes are used)
}
