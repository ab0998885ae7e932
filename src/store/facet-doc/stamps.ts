// Write stamps as a facet stores them: one immutable "at by" string per field in `meta`
// (wall-clock ms, then the writing instance), one op per field instead of a nested map.
import * as A from '@automerge/automerge'
import type { InstanceId } from '../../model/index.ts'
import type { WriteStamp } from './layout.ts'

export function encodeStamp(stamp: WriteStamp): A.ImmutableString {
  return new A.ImmutableString(`${stamp.at} ${stamp.by}`)
}

export function decodeStamp(value: unknown): WriteStamp | undefined {
  return value instanceof A.ImmutableString ? parseStamp(value.val) : undefined
}

/** The latest time a JavaScript Date holds (ms): later ones can't be shown as a time. */
export const MAX_STAMP_TIME = 8.64e15
/** Longer than any instance id (52 characters today) by far; a peer can't bloat stamps. */
const MAX_WRITER_LENGTH = 256

/**
 * The stamp in an "at by" string; undefined unless `at` is a whole number of ms a Date
 * can hold (0 to MAX_STAMP_TIME) and `by` names a writer. A stamp that is not is no
 * stamp: a peer's document holding one is refused (remote-check.ts), and one stored
 * before this check is ignored where it is read.
 */
export function parseStamp(text: string): WriteStamp | undefined {
  const space = text.indexOf(' ')
  // Decimal digits only, as encodeStamp writes them: Number() would also take '', hex,
  // exponents and signs.
  if (space < 1 || space > 16) return undefined
  for (let i = 0; i < space; i++) {
    const code = text.charCodeAt(i)
    if (code < 48 || code > 57) return undefined
  }
  const at = Number(text.slice(0, space))
  const by = text.slice(space + 1)
  if (at > MAX_STAMP_TIME) return undefined
  if (by.length === 0 || by.length > MAX_WRITER_LENGTH) return undefined
  return { at, by: by as InstanceId }
}

/** The change time Automerge records for a write: whole seconds of the stamp. */
export function changeTime(stamp: WriteStamp): number {
  return Math.floor(stamp.at / 1000)
}
