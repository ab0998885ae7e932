// The three encodings of Automerge's op columns — run-length, delta and boolean — each
// read into one array of `count` values, accepting only the canonical form Automerge
// writes. They run on every column of every change a first sync receives.
import { NotReadable, type Cursor } from './byte-cursor.ts'

/**
 * Reads `count` values of a run-length encoded column: a signed count n, then one value
 * repeated n times (n > 0), -n literal values (n < 0), or, for n = 0, an unsigned count
 * of nulls. An absent column is all nulls.
 */
export function readRle<T>(
  column: Cursor | undefined,
  count: number,
  value: (c: Cursor) => T,
): (T | null)[] {
  if (column === undefined) return new Array<null>(count).fill(null)
  // Filled by index into an array of its final length: pushed, it was copied as it grew.
  const out = new Array<T | null>(count)
  let filled = 0
  // Only the canonical form Automerge writes: a repetition of at least two, literals with
  // no two equal neighbours, and no two runs that should have been one. Automerge's
  // decoder takes other forms, but a document saved from them does not load again.
  let previous: 'repeat' | 'literal' | 'null' | undefined
  let last: T | null | undefined
  while (filled < count) {
    const run = column.sleb()
    if (run > 0) {
      const repeated = value(column)
      if (run < 2 || (previous !== 'null' && previous !== undefined && repeated === last)) {
        throw new NotReadable()
      }
      if (run > count - filled) throw new NotReadable()
      out.fill(repeated, filled, filled + run)
      filled += run
      previous = 'repeat'
      last = repeated
    } else if (run < 0) {
      if (previous === 'literal' || -run > count - filled) throw new NotReadable()
      for (let i = 0; i < -run; i++) {
        const item = value(column)
        if (previous !== undefined && previous !== 'null' && item === last) throw new NotReadable()
        out[filled++] = item
        last = item
        previous = 'literal'
      }
    } else {
      const nulls = column.uleb()
      if (nulls === 0 || previous === 'null' || nulls > count - filled) throw new NotReadable()
      out.fill(null, filled, filled + nulls)
      filled += nulls
      previous = 'null'
      last = null
    }
  }
  if (!column.done) throw new NotReadable()
  return out
}

/** A delta column: run-length encoded differences, summed from zero. */
export function readDelta(column: Cursor | undefined, count: number): (number | null)[] {
  const deltas = readRle(column, count, (c) => c.sleb())
  let sum = 0
  for (let i = 0; i < count; i++) {
    const delta = deltas[i]!
    if (delta === null) continue
    sum += delta
    if (sum < 0) throw new NotReadable() // a counter below zero
    deltas[i] = sum
  }
  return deltas
}

/** A boolean column: alternating run lengths, starting with false. */
export function readBooleans(column: Cursor | undefined, count: number): boolean[] {
  const out = new Array<boolean>(count).fill(false)
  if (column === undefined) return out
  let value = false
  let filled = 0
  while (filled < count) {
    const run = column.uleb()
    // Only the first run may be empty (the column starts with true).
    if ((run === 0 && filled > 0) || run > count - filled) throw new NotReadable()
    if (value) out.fill(true, filled, filled + run)
    filled += run
    value = !value
  }
  if (!column.done) throw new NotReadable()
  return out
}
