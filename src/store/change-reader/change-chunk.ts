// Reads one Automerge change chunk into its ops as the columns hold them (ColumnOp):
// the chunk header and checksum, the change's header, the column table, then one op per
// row of the columns, with its predecessors from the predecessor columns (one row per
// predecessor, `count` of them per op, in the op's order). Any form outside the narrow one (see ../change-reader.ts) throws
// NotReadable, which readChangeColumns turns into undefined.
import { hash } from 'node:crypto'
import { Cursor, NotReadable } from './byte-cursor.ts'
import { readBooleans, readDelta, readRle } from './column-encodings.ts'
import * as format from './change-format.ts'

/**
 * An op as the columns hold it, before its ids become strings: objects and list elements
 * are (index into `actors`, counter) pairs, which a caller can compare without building
 * an id string per op.
 */
export interface ColumnOp {
  /** 'del' deletes a map key: no value, and at least one predecessor. */
  action: 'set' | 'makeList' | 'makeMap' | 'del'
  /** -1 (with objCtr 0) for the root object. */
  objActor: number
  objCtr: number
  key?: string
  /** For list ops: -1 with elemCtr 0 for the head of the list. */
  elemActor: number
  elemCtr: number
  insert: boolean
  value?: string | number | boolean | null
  datatype?: 'int' | 'uint' | 'float64'
  /**
   * The ops this one overwrites or deletes (only an op on a map key has any), as (index
   * into `actors`, counter), in Automerge's order: ascending by counter, then by actor
   * id. Absent or empty for none; the reader leaves it absent.
   */
  pred?: ColumnPred[]
}

/** A predecessor of an op: the op (actor index, counter) it overwrites or deletes. */
export interface ColumnPred {
  actor: number
  counter: number
}

export interface ChangeColumns {
  /** The change's own actor first, then the other actors its ops refer to. */
  actors: string[]
  hash: string
  seq: number
  startOp: number
  time: number
  deps: string[]
  ops: ColumnOp[]
  /** The change's message, where it has one (an authorship proof: store/authorship.ts). */
  message?: string
}

/** The longest message read: an authorship proof is ≈ 240 bytes; longer is left to Automerge. */
export const MAX_MESSAGE_BYTES = 1024

const KNOWN_COLUMNS = new Set([
  format.OBJ_ACTOR,
  format.OBJ_CTR,
  format.KEY_ACTOR,
  format.KEY_CTR,
  format.KEY_STR,
  format.INSERT,
  format.ACTION,
  format.VALUE_META,
  format.VALUE_RAW,
  format.PRED_COUNT,
  format.PRED_ACTOR,
  format.PRED_CTR,
])

// By action code (see change-format.ts).
const ACTIONS = ['makeMap', 'set', 'makeList', 'del'] as const

// The readers of one column value, made once rather than per change.
const uleb = (c: Cursor): number => c.uleb()
const string = (c: Cursor): string => c.string()

/**
 * The change in `bytes` (exactly one change chunk) with its ops as the columns hold them
 * (see ColumnOp), or undefined when the bytes are not of the narrow form this reader
 * takes. Checks the chunk's checksum as Automerge does.
 */
export function readChangeColumns(bytes: Uint8Array): ChangeColumns | undefined {
  try {
    return read(bytes)
  } catch (error) {
    if (error instanceof NotReadable) return undefined
    throw error
  }
}

function read(bytes: Uint8Array): ChangeColumns {
  const header = new Cursor(bytes)
  const changeHash = readChunkHeader(header)
  const body = new Cursor(bytes, header.offset)
  const deps: string[] = []
  for (let n = body.uleb(); n > 0; n--) deps.push(body.hex(32))
  const actors = [body.hex(body.uleb())]
  const seq = body.uleb()
  const startOp = body.uleb()
  const time = body.sleb()
  if (seq === 0 || startOp === 0 || startOp > format.MAX_COUNTER) throw new NotReadable()
  const messageLength = body.uleb()
  if (messageLength > MAX_MESSAGE_BYTES) throw new NotReadable()
  const message = messageLength === 0 ? undefined : body.text(messageLength)
  for (let n = body.uleb(); n > 0; n--) actors.push(body.hex(body.uleb()))
  if (actors.some((actor) => actor.length === 0)) throw new NotReadable()
  const ops = readOps(bytes, readColumnTable(body), actors, startOp)
  const change: ChangeColumns = { actors, hash: changeHash, seq, startOp, time, deps, ops }
  if (message !== undefined) change.message = message
  return change
}

/**
 * Reads the chunk header (magic, checksum, type, length) and returns the change's hash;
 * leaves `header` at the start of the body, which must run to the end of the bytes.
 */
function readChunkHeader(header: Cursor): string {
  const { bytes } = header
  for (const byte of format.MAGIC) if (header.byte() !== byte) throw new NotReadable()
  const checksum = header.hex(4)
  const hashedFrom = header.offset
  if (header.byte() !== format.CHANGE_CHUNK) throw new NotReadable()
  const length = header.uleb()
  if (header.offset + length !== bytes.length) throw new NotReadable()
  // One-shot hashing: ≈ 3× faster than createHash for a small change.
  const changeHash = hash('sha256', bytes.subarray(hashedFrom), 'hex')
  if (!changeHash.startsWith(checksum)) throw new NotReadable()
  return changeHash
}

/** The column table and the columns after it, which must end the body: spec → column. */
function readColumnTable(body: Cursor): Map<number, Cursor> {
  const columns = new Map<number, Cursor>()
  const specs: [number, number][] = []
  for (let n = body.uleb(); n > 0; n--) specs.push([body.uleb(), body.uleb()])
  let previous = -1
  for (const [spec, size] of specs) {
    if (!KNOWN_COLUMNS.has(spec) || spec <= previous) throw new NotReadable()
    previous = spec
    const start = body.offset
    body.skip(size)
    if (size > 0) columns.set(spec, new Cursor(body.bytes, start, start + size))
  }
  if (!body.done) throw new NotReadable() // extra bytes after the columns
  return columns
}

/** The number of ops: the action column's run lengths (every other column must agree). */
function countOps(actions: Cursor | undefined): number {
  let count = 0
  if (actions === undefined) return count
  const probe = new Cursor(actions.bytes, actions.offset, actions.end)
  while (!probe.done) {
    const run = probe.sleb()
    if (run > 0) {
      count += run
      probe.uleb()
    } else if (run < 0) {
      count += -run
      for (let i = 0; i < -run; i++) probe.uleb()
    } else {
      throw new NotReadable() // a null action
    }
  }
  return count
}

function readOps(
  bytes: Uint8Array,
  columns: Map<number, Cursor>,
  actors: string[],
  startOp: number,
): ColumnOp[] {
  const actions = columns.get(format.ACTION)
  const count = countOps(actions)
  if (count > format.MAX_OPS || startOp + count > format.MAX_COUNTER) throw new NotReadable()
  const action = readRle(actions, count, uleb)
  const objActor = readRle(columns.get(format.OBJ_ACTOR), count, uleb)
  const objCtr = readRle(columns.get(format.OBJ_CTR), count, uleb)
  const keyActor = readRle(columns.get(format.KEY_ACTOR), count, uleb)
  const keyCtr = readDelta(columns.get(format.KEY_CTR), count)
  const keyStr = readRle(columns.get(format.KEY_STR), count, string)
  const insert = readBooleans(columns.get(format.INSERT), count)
  const valueMeta = readRle(columns.get(format.VALUE_META), count, uleb)
  const predCount = readRle(columns.get(format.PRED_COUNT), count, uleb)
  // The predecessor columns have a row per predecessor: as many as the counts add up to
  // (none at all, then absent).
  let predTotal = 0
  for (let i = 0; i < count; i++) {
    // Automerge reads a null predecessor count as an error.
    if (predCount[i] === null) throw new NotReadable()
    predTotal += predCount[i]!
  }
  if (predTotal > format.MAX_OPS) throw new NotReadable()
  const predActor = readRle(columns.get(format.PRED_ACTOR), predTotal, uleb)
  const predCtr = readDelta(columns.get(format.PRED_CTR), predTotal)
  const raw = columns.get(format.VALUE_RAW) ?? new Cursor(bytes, 0, 0)

  const ops: ColumnOp[] = []
  let nextPred = 0
  for (let i = 0; i < count; i++) {
    // Automerge reads a null value metadata as an error.
    if (valueMeta[i] === null) throw new NotReadable()
    const name = ACTIONS[action[i]!]
    if (name === undefined) throw new NotReadable()
    const op: ColumnOp = {
      action: name,
      objActor: -1,
      objCtr: 0,
      elemActor: -1,
      elemCtr: 0,
      insert: insert[i]!,
    }
    if (objActor[i] !== null || objCtr[i] !== null) {
      op.objActor = checkedActor(actors, objActor[i]!, objCtr[i]!)
      op.objCtr = objCtr[i]!
    }
    const key = keyStr[i] ?? null
    if (key !== null) {
      if (keyActor[i] !== null || keyCtr[i] !== null || insert[i]) throw new NotReadable()
      op.key = key
    } else if (keyCtr[i] === 0 && keyActor[i] === null) {
      // the head of a list: elemActor -1, elemCtr 0
    } else {
      op.elemActor = checkedActor(actors, keyActor[i]!, keyCtr[i]!)
      op.elemCtr = keyCtr[i]!
    }
    // A list element overwrite (an op on an element without inserting).
    if (!insert[i] && key === null) throw new NotReadable()
    const preds = predCount[i]!
    if (preds > 0) {
      // Only an op on a map key overwrites or deletes (an insert has nothing before it).
      if (key === null) throw new NotReadable()
      op.pred = readPreds(actors, predActor, predCtr, nextPred, preds, startOp + i)
      nextPred += preds
    } else if (name === 'del') {
      throw new NotReadable() // a delete of nothing
    }
    const meta = valueMeta[i] ?? 0
    if (name === 'set') readValue(op, meta, raw)
    else if (meta !== 0) throw new NotReadable()
    ops.push(op)
  }
  if (!raw.done) throw new NotReadable()
  return ops
}

/**
 * The `count` predecessors from row `from` of the predecessor columns, of the op whose
 * counter is `opCounter`: each an op of the change's actors, in Automerge's order
 * (ascending by counter, then by actor id, none twice), and none of the author's not
 * before this op.
 */
function readPreds(
  actors: string[],
  predActor: (number | null)[],
  predCtr: (number | null)[],
  from: number,
  count: number,
  opCounter: number,
): ColumnPred[] {
  const preds = new Array<ColumnPred>(count)
  let lastCounter = 0
  let lastActor = ''
  for (let j = 0; j < count; j++) {
    const counter = predCtr[from + j]!
    const actor = checkedActor(actors, predActor[from + j]!, counter)
    const id = actors[actor]!
    if (counter < lastCounter || (counter === lastCounter && id <= lastActor)) {
      throw new NotReadable() // out of Automerge's order, or twice
    }
    if (counter >= opCounter && id === actors[0]) throw new NotReadable()
    preds[j] = { actor, counter }
    lastCounter = counter
    lastActor = id
  }
  return preds
}

/** `actor`, after checking that (actor, counter) names an op of this change's actors. */
function checkedActor(actors: string[], actor: number | null, counter: number | null): number {
  if (
    actor === null ||
    counter === null ||
    counter <= 0 ||
    counter > format.MAX_COUNTER ||
    actor >= actors.length
  ) {
    throw new NotReadable()
  }
  return actor
}

function readValue(op: ColumnOp, meta: number, raw: Cursor): void {
  const size = Math.floor(meta / 16)
  const type = meta % 16
  const value = new Cursor(raw.bytes, raw.offset, raw.offset + size)
  raw.skip(size)
  switch (type) {
    case format.VALUE_NULL:
    case format.VALUE_FALSE:
    case format.VALUE_TRUE:
      if (size !== 0) throw new NotReadable()
      op.value = type === format.VALUE_NULL ? null : type === format.VALUE_TRUE
      return
    case format.VALUE_UINT:
      op.value = value.uleb()
      op.datatype = 'uint'
      break
    case format.VALUE_INT:
      op.value = value.sleb()
      op.datatype = 'int'
      break
    case format.VALUE_FLOAT:
      if (size !== 8) throw new NotReadable()
      op.value = new DataView(raw.bytes.buffer, raw.bytes.byteOffset + value.offset, 8).getFloat64(
        0,
        true,
      )
      op.datatype = 'float64'
      return
    case format.VALUE_STRING:
      op.value = value.text(size)
      return
    default:
      throw new NotReadable() // bytes, counters, timestamps, unknown types
  }
  if (!value.done) throw new NotReadable()
}
