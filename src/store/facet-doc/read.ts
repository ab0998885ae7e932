// Reading a facet's content: from a live document, or from its stored bytes (without
// loading them when they are still in the form encodeNewFacet writes).
import * as A from '@automerge/automerge'
import type { FieldValue } from '../../model/index.ts'
import { readType, type Doc, type FacetContent, type FacetDoc, type WriteStamp } from './layout.ts'
import { readEncodedFacet } from './read-created.ts'
import { decodeStamp } from './stamps.ts'
import { decodeValue } from './values.ts'

/**
 * The content of a facet from its bytes: read without loading when it is still in its
 * created form, loaded (and freed) otherwise. Undefined when the bytes don't load.
 * `stored`: the bytes are this store's own (read, not to be stored), so the check that
 * what is to be stored is in the one form Automerge writes (≈ half the cost of a read) is
 * left out.
 */
export function readFacetBytes(
  bytes: Uint8Array,
  options: { stored?: boolean } = {},
): FacetContent | undefined {
  try {
    const quick = readEncodedFacet(bytes, options.stored === true)
    if (quick !== undefined) return quick
    const doc = A.load<FacetDoc>(bytes)
    try {
      return readFacetDoc(doc)
    } finally {
      A.free(doc)
    }
  } catch {
    return undefined
  }
}

export function readFacetDoc(doc: Doc): FacetContent {
  const fields: Record<string, FieldValue> = {}
  const meta: Record<string, WriteStamp> = {}
  // Keys in name order: a document's materialized key order depends on the order its
  // changes arrived in, and two instances must show the same object the same way.
  const rawFields = (doc.fields ?? {}) as Record<string, unknown>
  for (const [name, value] of sortedEntries(rawFields)) {
    const decoded = decodeValue(value)
    if (decoded !== undefined) fields[name] = decoded
  }
  const rawMeta = (doc.meta ?? {}) as Record<string, unknown>
  for (const [name, value] of sortedEntries(rawMeta)) {
    const stamp = decodeStamp(value)
    if (stamp !== undefined) meta[name] = stamp
  }
  const content: FacetContent = { type: readType(doc), fields, meta, deleted: doc.deleted === true }
  const apart = doc.keptApart as unknown
  if (apart !== undefined) {
    content.keptApart = apart instanceof A.ImmutableString ? apart.val : ''
  }
  if (doc.mergedInto !== undefined) {
    content.mergedInto = mergeTargets(doc)
    const stamp = decodeStamp(doc.mergedBy)
    if (stamp !== undefined) content.mergedBy = stamp
  }
  return content
}

/** Every value of `mergedInto`, concurrent ones included, as sorted unique strings. */
function mergeTargets(doc: Doc): string[] {
  // getConflicts answers only when there are several values, and gives immutable strings
  // as plain ones; a lone value is read from the document.
  const conflicts = A.getConflicts(doc, 'mergedInto') as Record<string, unknown> | undefined
  const values = conflicts === undefined ? [doc.mergedInto as unknown] : Object.values(conflicts)
  const targets = new Set<string>()
  for (const value of values) {
    // Anything but a string is kept as a marker the remote check refuses.
    targets.add(
      value instanceof A.ImmutableString ? value.val : typeof value === 'string' ? value : '',
    )
  }
  return [...targets].sort()
}

function sortedEntries(record: Record<string, unknown>): [string, unknown][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}
