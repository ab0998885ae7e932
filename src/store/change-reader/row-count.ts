// How many rows (ops, changes, predecessors) the columns of a peer's bytes claim, read
// without decoding them, so that bytes claiming more than anyone writes are refused
// before Automerge builds them. Run-length columns can name a billion rows in five bytes
// ("a zip bomb"): Automerge decodes such a change op by op (≈ 750 bytes of memory each in
// decodeChange), and 76 bytes of a change took 150 MB. This reads every column of every
// chunk — change, compressed change and document — once, in time linear in the bytes
// (each run read consumes bytes), and inflates deflated parts within a bound.
import { inflateRawSync } from 'node:zlib'
import { MAGIC } from './change-format.ts'

/**
 * The most rows a facet received from a peer may claim (the largest column of each chunk,
 * summed over its chunks): 10,000 and four per byte of the facet, and never more than
 * 2,000,000. Honest bytes claim far fewer: a signed edit is ≈ 250 bytes for three rows
 * (a change and two ops), an unsigned one in a saved document a few bytes a row; a
 * record's whole history passes up to ≈ 660,000 edits. A run-length bomb claims millions
 * of rows in a few bytes.
 */
export function maxFacetRows(byteLength: number): number {
  return Math.min(MAX_FACET_ROWS, BASE_ROWS + ROWS_PER_BYTE * byteLength)
}
export const MAX_FACET_ROWS = 2_000_000
const BASE_ROWS = 10_000
const ROWS_PER_BYTE = 4

/** The most bytes the deflated parts of one facet may inflate to, all together. */
const MAX_INFLATED_BYTES = 16 * 2 ** 20

const DOCUMENT_CHUNK = 0
const CHANGE_CHUNK = 1
const COMPRESSED_CHANGE_CHUNK = 2

// A column spec's low three bits: its encoding; bit 3: deflated.
const DEFLATE = 0x08
const enum Encoding {
  Group = 0,
  Actor = 1,
  Uleb = 2,
  Delta = 3,
  Boolean = 4,
  String = 5,
  ValueMeta = 6,
  ValueRaw = 7,
}

/**
 * Why `bytes` (a facet's chunks, or one change) must not reach Automerge: columns that
 * claim more than MAX_FACET_ROWS rows in all, parts that inflate past their bound, or —
 * given `heldOps`, the ops the document they go into holds already — op numbers past
 * every op there can be. Undefined when they may (including bytes this can't read:
 * Automerge refuses those itself, and what it refuses it has not built).
 *
 * Op numbers: each change numbers its ops on from the highest op number it has seen,
 * which belong to its dependencies, so no honest op number exceeds the count of ops in
 * a document that holds its change. A change may claim to start anywhere, though, and
 * Automerge makes room for every number up to the highest when it loads the document
 * (a change starting at op 5,000,000 made a 162-byte saved document take 360 MB to load;
 * at 50,000,000 the load ran out of memory). The numbers are checked against
 * `heldOps` plus every op the bytes hold — in any order, as a batch may arrive.
 */
export function oversizedColumns(bytes: Uint8Array, heldOps?: number): string | undefined {
  let rows = 0
  let ops = 0
  let highestOp = 0
  const limit = maxFacetRows(bytes.length)
  const budget = { inflatable: MAX_INFLATED_BYTES }
  try {
    const cursor = new Cursor(bytes)
    while (!cursor.done) {
      for (const byte of MAGIC) if (cursor.byte() !== byte) return undefined
      cursor.skip(4) // checksum
      const type = cursor.byte()
      // Automerge also loads "bundles" (type 3), which no instance writes: refused.
      if (type !== CHANGE_CHUNK && type !== COMPRESSED_CHANGE_CHUNK && type !== DOCUMENT_CHUNK) {
        return `it holds a chunk of type ${type}, which no instance writes`
      }
      const length = cursor.uleb()
      const start = cursor.offset
      cursor.skip(length)
      const body = bytes.subarray(start, start + length)
      const chunk = readChunk(type, body, budget)
      rows += chunk.rows
      ops += chunk.ops
      highestOp = Math.max(highestOp, chunk.highestOp)
      if (rows > limit) {
        return `its columns claim more than ${limit.toLocaleString('en')} rows for ${bytes.length.toLocaleString('en')} bytes`
      }
    }
  } catch (error) {
    if (error instanceof Inflated) return error.message
    if (error instanceof NotReadable) return undefined
    throw error
  }
  if (heldOps !== undefined && highestOp > heldOps + ops) {
    return `its changes number ops up to ${highestOp.toLocaleString('en')}, past the ${(heldOps + ops).toLocaleString('en')} ops the document would hold`
  }
  return undefined
}

/** A part that inflates past MAX_INFLATED_BYTES. */
class Inflated extends Error {}

/** Bytes that end before what they say: this reader stops there. */
class NotReadable extends Error {}

/**
 * A byte reader as lenient as Automerge's own (LEB128 of any length up to 10 bytes), so
 * that nothing Automerge reads is read differently here.
 */
class Cursor {
  offset = 0
  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length
  }

  byte(): number {
    if (this.offset >= this.bytes.length) throw new NotReadable()
    return this.bytes[this.offset++]!
  }

  skip(length: number): void {
    if (length > this.bytes.length - this.offset) throw new NotReadable()
    this.offset += length
  }

  uleb(): number {
    let result = 0
    for (let shift = 0; shift < 70; shift += 7) {
      const byte = this.byte()
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return result
    }
    throw new NotReadable()
  }

  sleb(): number {
    let result = 0
    for (let shift = 0; shift < 70; shift += 7) {
      const byte = this.byte()
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return byte & 0x40 ? result - 2 ** (shift + 7) : result
    }
    throw new NotReadable()
  }
}

/** What the deflated parts of one facet may still inflate to. */
interface Budget {
  inflatable: number
}

function inflate(bytes: Uint8Array, budget: Budget): Uint8Array {
  try {
    if (budget.inflatable <= 0) throw new RangeError('no budget left')
    const inflated = inflateRawSync(bytes, { maxOutputLength: budget.inflatable })
    budget.inflatable -= inflated.length
    return inflated
  } catch (error) {
    if (error instanceof RangeError) {
      throw new Inflated(
        `its deflated parts inflate past ${MAX_INFLATED_BYTES / 2 ** 20} MiB all together`,
      )
    }
    throw new NotReadable()
  }
}

/** What one chunk claims: its rows, its ops, and the highest op number it names. */
interface ChunkClaims {
  rows: number
  ops: number
  highestOp: number
}

function readChunk(type: number, body: Uint8Array, budget: Budget): ChunkClaims {
  switch (type) {
    case CHANGE_CHUNK:
      return changeClaims(body, budget)
    case COMPRESSED_CHANGE_CHUNK:
      return changeClaims(inflate(body, budget), budget)
    default:
      return documentClaims(body, budget)
  }
}

function changeClaims(body: Uint8Array, budget: Budget): ChunkClaims {
  const cursor = new Cursor(body)
  cursor.skip(cursor.uleb() * 32) // dependencies
  cursor.skip(cursor.uleb()) // actor
  cursor.uleb() // seq
  const startOp = cursor.uleb()
  cursor.sleb() // time
  cursor.skip(cursor.uleb()) // message
  for (let n = cursor.uleb(); n > 0; n--) cursor.skip(cursor.uleb()) // other actors
  // A change's rows are its ops.
  const ops = columnsRows(cursor, readColumnTable(cursor), budget)
  return { rows: ops, ops, highestOp: startOp + ops - 1 }
}

function documentClaims(body: Uint8Array, budget: Budget): ChunkClaims {
  const cursor = new Cursor(body)
  for (let n = cursor.uleb(); n > 0; n--) cursor.skip(cursor.uleb()) // actors
  cursor.skip(cursor.uleb() * 32) // heads
  const changeColumns = readColumnTable(cursor)
  const opColumns = readColumnTable(cursor)
  // One row per change in the change columns, one per op in the op columns.
  let highestOp = 0
  const changes = columnsRows(cursor, changeColumns, budget, (spec, data) => {
    if ((spec & ~DEFLATE) === MAX_OP_COLUMN) highestOp = highestDelta(data)
  })
  // A document keeps no delete ops: a delete is a successor of what it deleted. Each op
  // and each successor numbered at most one op.
  let numbered = 0
  const rows = columnsRows(cursor, opColumns, budget, (spec, data) => {
    const column = spec & ~DEFLATE
    if (column === ACTION_COLUMN || column === SUCCESSOR_COUNTER_COLUMN) {
      numbered += columnRows(column & 0x07, data)
    }
  })
  return { rows: changes + rows, ops: numbered, highestOp }
}

// Column specs (id << 4 | encoding) of a document chunk: a change's last op number; an
// op's action; a successor's counter.
const MAX_OP_COLUMN = (1 << 4) | Encoding.Delta
const ACTION_COLUMN = (4 << 4) | Encoding.Uleb
const SUCCESSOR_COUNTER_COLUMN = (8 << 4) | Encoding.Delta

/**
 * The highest value of a delta column: the running sum of its deltas, read run by run (a
 * run repeats one delta, so its highest sum is at one of its ends), up to where it stops
 * being readable.
 */
function highestDelta(data: Uint8Array): number {
  const column = new Cursor(data)
  let value = 0
  let highest = 0
  try {
    while (!column.done) {
      const run = column.sleb()
      if (run > 0) {
        const delta = column.sleb()
        highest = Math.max(highest, value + delta, value + run * delta)
        value += run * delta
      } else if (run < 0) {
        for (let i = 0; i < -run; i++) highest = Math.max(highest, (value += column.sleb()))
      } else {
        column.uleb() // nulls
      }
    }
  } catch (error) {
    if (!(error instanceof NotReadable)) throw error
  }
  return highest
}

function readColumnTable(cursor: Cursor): [spec: number, length: number][] {
  const columns: [number, number][] = []
  for (let n = cursor.uleb(); n > 0; n--) columns.push([cursor.uleb(), cursor.uleb()])
  return columns
}

/**
 * The most rows any one of the columns (read from `cursor`, in order) holds; `read` sees
 * each column's data, inflated.
 */
function columnsRows(
  cursor: Cursor,
  columns: readonly [number, number][],
  budget: Budget,
  read?: (spec: number, data: Uint8Array) => void,
): number {
  let most = 0
  for (const [spec, length] of columns) {
    const start = cursor.offset
    cursor.skip(length)
    let data = cursor.bytes.subarray(start, start + length)
    if (spec & DEFLATE) data = inflate(data, budget)
    read?.(spec, data)
    most = Math.max(most, columnRows(spec & 0x07, data))
    if (most > MAX_FACET_ROWS) return most
  }
  return most
}

/** The rows the column claims, up to where it stops being readable. */
function columnRows(encoding: number, data: Uint8Array): number {
  const column = new Cursor(data)
  let rows = 0
  try {
    rows = countRows(column, encoding, (counted) => (rows = counted))
  } catch (error) {
    if (!(error instanceof NotReadable)) throw error
  }
  return rows
}

/** Counts the column's rows, telling `counted` each sum so far (kept if the rest fails). */
function countRows(column: Cursor, encoding: number, counted: (rows: number) => void): number {
  let rows = 0
  switch (encoding as Encoding) {
    case Encoding.ValueRaw:
      return 0
    case Encoding.Boolean:
      while (!column.done && rows <= MAX_FACET_ROWS) counted((rows += column.uleb()))
      return rows
    default: {
      const skipValue =
        encoding === (Encoding.String as number)
          ? () => column.skip(column.uleb())
          : encoding === (Encoding.Delta as number)
            ? () => column.sleb()
            : () => column.uleb()
      while (!column.done && rows <= MAX_FACET_ROWS) {
        const run = column.sleb()
        // A run is counted before its values are read: a billion rows then garbage is
        // still a billion rows to Automerge, which decodes a run before what follows.
        if (run > 0) {
          counted((rows += run))
          skipValue()
        } else if (run < 0) {
          for (let i = 0; i < -run && rows <= MAX_FACET_ROWS; i++) {
            skipValue()
            counted((rows += 1))
          }
        } else {
          counted((rows += column.uleb()))
        }
      }
      return rows
    }
  }
}
