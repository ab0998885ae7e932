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
  const out: (T | null)[] = []
  if (column === undefined) return new Array<null>(count).fill(null)
  // Only the canonical form Automerge writes: a repetition of at least two, literals with
  // no two equal neighbours, and no two runs that should have been one. Automerge's
  // decoder takes other forms, but a document saved from them does not load again.
  let previous: 'repeat' | 'literal' | 'null' | undefined
  let last: T | null | undefined
  while (out.length < count) {
    const run = column.sleb()
    // No run past the rows counted (a billion in five bytes would be pushed one by one).
    if (Math.abs(run) > count - out.length) throw new NotReadable()
    if (run > 0) {
      const repeated = value(column)
      if (run < 2 || (previous !== 'null' && previous !== undefined && repeated === last)) {
        throw new NotReadable()
      }
      for (let i = 0; i < run; i++) out.push(repeated)
      previous = 'repeat'
      last = repeated
    } else if (run < 0) {
      if (previous === 'literal') throw new NotReadable()
      for (let i = 0; i < -run; i++) {
        const item = value(column)
        if (previous !== undefined && previous !== 'null' && item === last) throw new NotReadable()
        out.push(item)
        last = item
        previous = 'literal'
      }
    } else {
      const nulls = column.uleb()
      if (nulls === 0 || previous === 'null' || nulls > count - out.length) throw new NotReadable()
      for (let i = 0; i < nulls; i++) out.push(null)
      previous = 'null'
      last = null
    }
  }
  if (out.length !== count || !column.done) throw new NotReadable()
  return out
}

/** A delta column: run-length encoded differences, summed from zero. */
export function readDelta(column: Cursor | undefined, count: number): (number | null)[] {
  let sum = 0
  return readRle(column, count, (c) => c.sleb()).map((delta) => {
    if (delta === null) return null
    sum += delta
    if (sum < 0) throw new NotReadable() // a counter below zero
    return sum
  })
}

/** A boolean column: alternating run lengths, starting with false. */
export function readBooleans(column: Cursor | undefined, count: number): boolean[] {
  const out: boolean[] = []
  if (column === undefined) return new Array<boolean>(count).fill(false)
  let value = false
  while (out.length < count) {
    const run = column.uleb()
    // Only the first run may be empty (the column starts with true).
    if ((run === 0 && out.length > 0) || run > count - out.length) throw new NotReadable()
    for (let i = 0; i < run; i++) out.push(value)
    value = !value
  }
  if (out.length !== count || !column.done) throw new NotReadable()
  return out
}
