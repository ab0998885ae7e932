// Changing a facet document: a patch of fields, a tombstone, a restore. Each writes the
// stamps of what it changed, as one Automerge change.
import * as A from '@automerge/automerge'
import type { FieldValue } from '../../model/index.ts'
import {
  DELETED_META,
  type Doc,
  type StoredScalar,
  type StoredValue,
  type WriteStamp,
} from './layout.ts'
import { readFacetDoc } from './read.ts'
import { changeTime, encodeStamp } from './stamps.ts'
import { encodeValue, sameValue } from './values.ts'

/**
 * Applies `patch` (null clears a field) as one change, or returns undefined when it would
 * change nothing. Maps are diffed key by key so that two instances adding different keys
 * (e.g. their own donor ids) both keep theirs.
 */
export function changeFacetDoc(
  doc: Doc,
  patch: Record<string, FieldValue | null>,
  stamp: WriteStamp,
  /** Written even when equal to the value read, e.g. to settle a conflict on it. */
  force: ReadonlySet<string> = new Set(),
): Doc | undefined {
  const current = readFacetDoc(doc).fields
  const changed = Object.entries(patch).filter(
    ([name, value]) => force.has(name) || !sameValue(current[name], value ?? undefined),
  )
  if (changed.length === 0) return undefined
  const written = encodeStamp(stamp)
  return A.change(doc, { time: changeTime(stamp) }, (draft) => {
    for (const [name, value] of changed) {
      if (value === null) delete draft.fields[name]
      else if (isStringMap(value) && isStoredMap(draft.fields[name])) {
        patchMap(draft.fields[name], value)
      } else draft.fields[name] = encodeValue(value)
      draft.meta[name] = written
    }
  })
}

export function tombstoneFacetDoc(doc: Doc, stamp: WriteStamp): Doc {
  return A.change(doc, { time: changeTime(stamp) }, (draft) => {
    draft.deleted = true
    draft.meta[DELETED_META] = encodeStamp(stamp)
  })
}

/**
 * Records that the object is one with `target` (a merge), or that it stands alone again
 * (an unmerge) and is kept apart from the object it was merged into, with who decided it
 * and when.
 */
export function mergeFacetDoc(
  doc: Doc,
  change: { into: string } | { apartFrom: string },
  stamp: WriteStamp,
): Doc {
  return A.change(doc, { time: changeTime(stamp) }, (draft) => {
    if ('into' in change) {
      draft.mergedInto = new A.ImmutableString(change.into)
      if (draft.keptApart !== undefined) delete draft.keptApart
    } else {
      delete draft.mergedInto
      draft.keptApart = new A.ImmutableString(change.apartFrom)
    }
    draft.mergedBy = encodeStamp(stamp)
  })
}

/** Lifts a tombstone: the object is there again, with the fields it had. */
export function restoreFacetDoc(doc: Doc, stamp: WriteStamp): Doc {
  return A.change(doc, { time: changeTime(stamp) }, (draft) => {
    draft.deleted = false
    draft.meta[DELETED_META] = encodeStamp(stamp)
  })
}

function isStringMap(value: FieldValue): value is Record<string, string> {
  return typeof value === 'object' && !Array.isArray(value)
}

function isStoredMap(value: StoredValue | undefined): value is Record<string, StoredScalar> {
  return typeof value === 'object' && !Array.isArray(value) && !(value instanceof A.ImmutableString)
}

function patchMap(target: Record<string, StoredScalar>, next: Record<string, string>): void {
  for (const key of Object.keys(target)) if (!Object.hasOwn(next, key)) delete target[key]
  for (const [key, value] of Object.entries(next)) {
    const existing = target[key]
    if (!(existing instanceof A.ImmutableString) || existing.val !== value) {
      target[key] = new A.ImmutableString(value)
    }
  }
}
