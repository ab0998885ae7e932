// A facet document that arrives from a peer is checked before anything of it is stored:
// it must say which type it belongs to, agree with what is already here, and hold
// fields that pass the same validation as a local edit.
import { ObjectSyncError, isObjectSyncError } from '../errors.ts'
import {
  CORE_FACET,
  fieldSpec,
  isObjectId,
  isObjectType,
  validateNewObject,
  validatePatch,
  type FacetId,
  type FacetName,
  type ObjectId,
  type ObjectType,
} from '../model/index.ts'
import * as A from '@automerge/automerge'
import {
  decodeStamp,
  hasGenesisOf,
  type Doc,
  type FacetContent,
  type WriteStamp,
} from './facet-doc.ts'
import { MAX_STAMP_TIME, parseStamp } from './facet-doc/stamps.ts'
import type { AdmitsReference } from './object-store/types.ts'

/** Returns why the facet is refused, or undefined when it is acceptable. */
export function checkRemoteFacet(
  object: ObjectId,
  facet: FacetName,
  doc: Doc,
  content: FacetContent,
  existingType: ObjectType | undefined,
  now: number,
  /** The stamps stored before (storedStamps, read before merging); not asked again. */
  before: StoredStamps | undefined,
): string | undefined {
  if (!isObjectType(content.type)) return 'the document names no known object type'
  if (existingType !== undefined && content.type !== existingType) {
    return `the document is a ${content.type}, but the object here is a ${existingType}`
  }
  if (!hasGenesisOf(doc, content.type)) {
    return `the document does not grow from the ${content.type} facet genesis`
  }
  return (
    checkStamps(doc, now, before) ??
    checkMerge(object, facet, content) ??
    checkFields(facet, content.type, content)
  )
}

/**
 * Every write stamp (concurrent ones included) must read as one: a time a Date can hold
 * and a writer. One that doesn't — a time past year 275,760 made every read of its object
 * throw — is refused, with the document that holds it. Only stamps new in `doc` are
 * asked: one stored before these checks must not keep out every later honest change.
 */
function checkStamps(doc: Doc, now: number, before: StoredStamps | undefined): string | undefined {
  const meta = (doc.meta ?? {}) as Record<string, unknown>
  const problem = (where: string, value: unknown) =>
    `${where}: ${preview(value)} is not a write stamp (a time from 0 to ${MAX_STAMP_TIME} ms, then the writer)`
  for (const name of Object.keys(meta)) {
    const stored = before?.get(name)
    for (const value of stampValues(doc, name)) {
      const text = value instanceof A.ImmutableString ? value.val : value
      if (typeof text === 'string' && stored?.has(text) === true) continue
      const stamp = typeof text === 'string' ? parseStamp(text) : undefined
      if (stamp === undefined) return problem(`meta.${name}`, value)
      const ahead = aheadOfClock(`meta.${name}`, stamp, now)
      if (ahead !== undefined) return ahead
    }
  }
  const merged = doc.mergedBy as unknown
  const mergedText = merged instanceof A.ImmutableString ? merged.val : undefined
  if (
    merged !== undefined &&
    (mergedText === undefined || !before?.get(MERGED_BY)?.has(mergedText))
  ) {
    const stamp = decodeStamp(merged)
    if (stamp === undefined) return problem('mergedBy', doc.mergedBy)
    return aheadOfClock('mergedBy', stamp, now)
  }
  return undefined
}

/** Where StoredStamps keeps the merge's stamp: no field name has a NUL. */
const MERGED_BY = '\0mergedBy'

/** The values of a stamp, concurrent ones included. */
function stampValues(doc: Doc, name: string): unknown[] {
  const meta = (doc.meta ?? {}) as Record<string, unknown>
  if (!(name in meta)) return []
  // getConflicts gives immutable strings as plain ones (and answers only for several).
  return Object.values(A.getConflicts(doc.meta as unknown as Doc, name) ?? { only: meta[name] })
}

/** Every stamp of a document, concurrent values included, as text, per field. */
export type StoredStamps = ReadonlyMap<string, ReadonlySet<string>>

/**
 * The stamps of a stored document; read them before merging anything into it (a merge
 * moves the document's handle, and the old document then reads as the merged one).
 */
export function storedStamps(doc: Doc): StoredStamps {
  const stamps = new Map<string, Set<string>>()
  for (const name of Object.keys(doc.meta ?? {})) {
    const texts = stampValues(doc, name).map((value) =>
      value instanceof A.ImmutableString ? value.val : String(value),
    )
    stamps.set(name, new Set(texts))
  }
  const merged = doc.mergedBy as unknown
  if (merged instanceof A.ImmutableString) stamps.set(MERGED_BY, new Set([merged.val]))
  return stamps
}

/** The references (personId, organizationId, ownerId) `after` sets that `before` didn't. */
export function changedReferences(
  type: ObjectType,
  before: Readonly<Record<string, unknown>> | undefined,
  after: Readonly<Record<string, unknown>>,
): [field: string, target: ObjectId][] {
  const changed: [string, ObjectId][] = []
  for (const [field, value] of Object.entries(after)) {
    if (typeof value !== 'string' || fieldSpec(type, field)?.kind !== 'objectId') continue
    if (value !== before?.[field] && isObjectId(value)) changed.push([field, value])
  }
  return changed
}

/**
 * How far ahead of this instance's clock a write may be stamped: clocks differ, but a
 * write stamped far ahead would win every later-wins conflict until that time comes.
 */
export const MAX_CLOCK_AHEAD_MS = 24 * 60 * 60 * 1000

function aheadOfClock(where: string, stamp: WriteStamp, now: number): string | undefined {
  if (stamp.at <= now + MAX_CLOCK_AHEAD_MS) return undefined
  return `${where}: written at ${new Date(stamp.at).toISOString()}, more than 24 hours ahead of this instance's clock`
}

/** The stamps of content read without loading a document (of `names`, else all): none too far ahead. */
export function checkStampTimes(
  meta: Readonly<Record<string, WriteStamp>>,
  now: number,
  names: Iterable<string> = Object.keys(meta),
): string | undefined {
  for (const name of names) {
    const stamp = meta[name]
    if (stamp === undefined) continue
    const ahead = aheadOfClock(`meta.${name}`, stamp, now)
    if (ahead !== undefined) return ahead
  }
  return undefined
}

/** A value as a short string for a reason (a peer's value may be long). */
function preview(value: unknown): string {
  const text =
    value instanceof A.ImmutableString ? value.val : (JSON.stringify(value) ?? String(value))
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)
}

/**
 * Concurrent merges of one object into different others: each instance writes one, so
 * honest peers stay far below this; a peer's document with more is refused.
 */
const MAX_MERGE_TARGETS = 16

/**
 * A merge names other objects by id, and always the smaller id as the one kept: so merges
 * can't form a cycle, and every instance picks the same survivor.
 */
function checkMerge(
  object: ObjectId,
  facet: FacetName,
  content: Pick<FacetContent, 'mergedInto' | 'keptApart'>,
): string | undefined {
  if (content.keptApart !== undefined && !isObjectId(content.keptApart)) {
    return `keptApart: ${JSON.stringify(content.keptApart)} is not an object id`
  }
  if (content.mergedInto === undefined) return undefined
  if (facet !== CORE_FACET) return 'only the core facet may record a merge'
  if (content.mergedInto.length > MAX_MERGE_TARGETS) {
    return `mergedInto: ${content.mergedInto.length} concurrent merges, at most ${MAX_MERGE_TARGETS}`
  }
  for (const target of content.mergedInto) {
    if (!isObjectId(target)) return `mergedInto: ${JSON.stringify(target)} is not an object id`
    if (target >= object) return `mergedInto: ${target} is not an id smaller than the object's`
  }
  return undefined
}

/** The field checks alone, for content read without loading a document. */
export function checkFields(
  facet: FacetName,
  type: ObjectType,
  content: Pick<FacetContent, 'fields'>,
): string | undefined {
  try {
    if (facet === CORE_FACET) validateNewObject(type, { fields: content.fields })
    else validatePatch(type, { custom: content.fields })
  } catch (error) {
    if (isObjectSyncError(error, 'INVALID_OBJECT')) return error.message
    throw error
  }
  return undefined
}

/** Why one of the references `after` sets or changes may not be, if one may not. */
export async function referencesRefused(
  admits: AdmitsReference,
  type: ObjectType,
  before: Readonly<Record<string, unknown>> | undefined,
  after: Readonly<Record<string, unknown>>,
): Promise<string | undefined> {
  for (const [field, target] of changedReferences(type, before, after)) {
    const problem = await admits(type, field, target)
    if (problem !== undefined) return problem
  }
  return undefined
}

/**
 * What marks a refusal by scope (a facet, or a reference, the peer may not send): an
 * honest peer whose share is wider than what we take sends those, unlike invalid ones.
 */
export const OUT_OF_SCOPE = { reason: 'out-of-scope' } as const

/** The refusal of a facet the peer may not send (its scope). */
export function outOfScope(facet: FacetId, type: ObjectType): ObjectSyncError {
  return new ObjectSyncError(
    'INVALID_CHANGES',
    `${facet} (a ${type}) is outside what this peer may send`,
    { details: OUT_OF_SCOPE },
  )
}

/** The refusal of a document whose references name what the peer may not (its scope). */
export function referenceOutOfScope(facet: FacetId, problem: string): ObjectSyncError {
  return new ObjectSyncError(
    'INVALID_CHANGES',
    `the document for ${facet} was refused: ${problem}`,
    {
      details: OUT_OF_SCOPE,
    },
  )
}

/** Whether a refusal was by scope (OUT_OF_SCOPE), not of something invalid. */
export function refusedByScope(error: ObjectSyncError): boolean {
  return error.details?.reason === OUT_OF_SCOPE.reason
}
