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

/** The stamp in an "at by" string; undefined when `at` is not a safe integer. */
export function parseStamp(text: string): WriteStamp | undefined {
  const space = text.indexOf(' ')
  const at = Number(text.slice(0, space))
  if (space < 0 || !Number.isSafeInteger(at)) return undefined
  return { at, by: text.slice(space + 1) as InstanceId }
}

/** The change time Automerge records for a write: whole seconds of the stamp. */
export function changeTime(stamp: WriteStamp): number {
  return Math.floor(stamp.at / 1000)
}
