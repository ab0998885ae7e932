// The three encodings of Automerge's op columns — run-length, delta and boolean — as its
// encoders write them: the inverse of column-encodings.ts, each writing one array of
// values, with the same choices to the byte (held to Automerge.encodeChange by
// test/store/change-writer.test.ts).
import { utf8Size, type ByteWriter } from './byte-writer.ts'

/**
 * A run-length column, as Automerge's encoder writes it: a run for each stretch of two
 * or more equal values, a literal run for the values between (up to the one before such
 * a stretch), a null run (0, count) for nulls — except a column null throughout, which
 * is written as nothing at all.
 */
export function writeRle<T>(out: ByteWriter, values: (T | null)[], writeOne: WriteOne<T>): void {
  const count = values.length
  let i = 0
  while (i < count) {
    const value = values[i] as T | null
    let end = i + 1
    if (value === null) {
      while (end < count && values[end] === null) end++
      if (i === 0 && end === count) return
      out.byte(0)
      out.uleb(end - i)
    } else if (end < count && values[end] === value) {
      while (end < count && values[end] === value) end++
      out.sleb(end - i)
      writeOne(out, value)
    } else {
      // A literal ends at a null, at the end, or before a value its successor repeats.
      while (
        end < count &&
        values[end] !== null &&
        (end + 1 === count || values[end + 1] !== values[end])
      ) {
        end++
      }
      out.sleb(i - end)
      for (let j = i; j < end; j++) writeOne(out, values[j]!)
    }
    i = end
  }
}

export type WriteOne<T> = (out: ByteWriter, value: T) => void
export const writeUleb: WriteOne<number> = (out, value) => out.uleb(value)
export const writeSleb: WriteOne<number> = (out, value) => out.sleb(value)
export const writeString: WriteOne<string> = (out, value) => {
  const size = utf8Size(value)
  out.uleb(size)
  out.utf8(value, size)
}

/** A delta column: each value as its difference from the last non-null one (from 0). */
export function writeDelta(out: ByteWriter, values: (number | null)[]): void {
  let last = 0
  const deltas = values.map((value) => {
    if (value === null) return null
    const delta = value - last
    last = value
    return delta
  })
  writeRle(out, deltas, writeSleb)
}

/** A boolean column: the lengths of alternating runs, the first of false (maybe 0). */
export function writeBooleans(out: ByteWriter, values: boolean[]): void {
  let current = false
  let run = 0
  for (const value of values) {
    if (value === current) {
      run++
    } else {
      out.uleb(run)
      current = value
      run = 1
    }
  }
  if (run > 0) out.uleb(run)
}
