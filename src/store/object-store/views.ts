// Pure views of loaded objects: the public StoredObject, its conflict-inbox entries, and
// the names of the fields a facet holds. Conflicts resolve here by the configured
// sources of truth (a named instance always wins a field), else by the later write.
import {
  CORE_FACET,
  facetId,
  fieldSpec,
  type FacetName,
  type FieldValue,
  type InstanceId,
  type NewObjectInput,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import { resolveFacet, type FieldConflict, type SourceOfTruth } from '../conflicts.ts'
import { type FacetContent, type WriteStamp } from '../facet-doc.ts'
import { readLinearFacet, type LinearFacet } from '../facet-doc/linear.ts'
import { MAX_STAMP_TIME } from '../facet-doc/stamps.ts'
import { joinFacetParts } from './facet-parts.ts'
import type { LoadedObject, StoredParts } from './loaded-object.ts'
import type { ReceivedObject } from './received-objects.ts'
import type { ConflictEntry, StoredObject, WrittenBy } from './types.ts'

type Sources = Readonly<Record<string, InstanceId>> | undefined

export function toStoredObject(id: ObjectId, loaded: LoadedObject, sources: Sources): StoredObject {
  const resolved = [...loaded.facets].map(
    ([facet, state]) =>
      [
        facet,
        resolveFacet(state.doc, sourceOfTruth(sources, loaded.type, facet), facetId(id, facet)),
      ] as const,
  )
  return storedObjectOf(id, loaded.type, resolved)
}

/**
 * The object of facets every one of which is a line of changes (its created form, then
 * edits one after the other: see facet-doc/linear.ts), read without loading a document —
 * as loading would read it, since such a facet has no conflicts. Undefined for any other
 * form; throws when bytes in the created form don't decode.
 */
export function linearStoredObject(id: ObjectId, parts: StoredParts): StoredObject | undefined {
  const facets = linesOf(parts)
  if (facets === undefined) return undefined
  const type = facets.values().next().value?.type
  return type === undefined ? undefined : storedObjectFrom(id, type, facets)
}

// The lines read from parts, by the parts' identity: the parts of an object read or written
// last are the same object from one read to the next (RecentParts), and are never changed.
const lines = new WeakMap<StoredParts, ReadonlyMap<FacetName, LinearFacet> | null>()

/**
 * linearFacets of `parts`, read once per parts object. Shared: never change what this
 * returns (cloneLine a facet to edit it).
 */
export function linesOf(parts: StoredParts): ReadonlyMap<FacetName, LinearFacet> | undefined {
  let read = lines.get(parts)
  if (read === undefined) {
    read = linearFacets(parts) ?? null
    lines.set(parts, read)
  }
  return read ?? undefined
}

/** Notes what `parts` read as, when it is known already (see linesOf). */
export function knownLines(parts: StoredParts, facets: ReadonlyMap<FacetName, LinearFacet>): void {
  lines.set(parts, facets)
}

/**
 * Notes what `next` (`parts` with `facet` grown) reads as, when that is known: the lines
 * of `parts` with that facet's replaced by `line`, or `line` alone when it is the only
 * facet.
 */
export function grownLines(
  parts: StoredParts,
  next: StoredParts,
  facet: FacetName,
  line: LinearFacet,
): void {
  const before = lines.get(parts)
  if (before) lines.set(next, new Map(before).set(facet, line))
  else if (next.size === 1) lines.set(next, new Map([[facet, line]]))
}

/** Every facet of `parts` read as a line, all of one type; undefined if any is not one. */
function linearFacets(parts: StoredParts): Map<FacetName, LinearFacet> | undefined {
  const facets = new Map<FacetName, LinearFacet>()
  let type: ObjectType | undefined
  for (const [facet, part] of parts) {
    const bytes = joinFacetParts(part)
    const read = readLinearFacet(bytes, { storedUpTo: bytes.length })
    if (read === undefined) return undefined
    if (type !== undefined && type !== read.type) return undefined
    type = read.type
    facets.set(facet, read)
  }
  return facets
}

/** The object of facets read without conflicts (as lines, or as received). */
export function storedObjectFrom(
  id: ObjectId,
  type: ObjectType,
  facets: ReadonlyMap<FacetName, FacetContent>,
): StoredObject {
  // Copied: the contents may be shared (linesOf), and readers change what they get.
  return storedObjectOf(
    id,
    type,
    [...facets].map(([facet, content]) => {
      const copy = { ...content, fields: copyFields(content.fields), meta: copyMeta(content.meta) }
      return [facet, { content: copy, conflicts: [] }] as const
    }),
  )
}

/** The fields with their lists and maps copied: a copy no reader's change reaches back from. */
export function copyFields(fields: Record<string, FieldValue>): Record<string, FieldValue> {
  const copy: Record<string, FieldValue> = {}
  for (const [name, value] of Object.entries(fields)) {
    copy[name] = Array.isArray(value)
      ? [...value]
      : typeof value === 'object'
        ? { ...value }
        : value
  }
  return copy
}

export function copyMeta(meta: Record<string, WriteStamp>): Record<string, WriteStamp> {
  const copy: Record<string, WriteStamp> = {}
  for (const [name, stamp] of Object.entries(meta)) copy[name] = { ...stamp }
  return copy
}

/**
 * A write time as ISO text, for any number: stamps read from documents are in range
 * (parseStamp), but a view must never throw on one (a time past year 275,760 did, and made
 * every read of its object fail).
 */
function timeText(at: number): string {
  return new Date(Math.min(Math.max(at, 0), MAX_STAMP_TIME)).toISOString()
}

/** An object as kept on receipt (received-objects.ts); its own copy of the fields. */
export function receivedStoredObject(id: ObjectId, received: ReceivedObject): StoredObject {
  const content = { ...received.content, fields: { ...received.content.fields } }
  return storedObjectOf(id, content.type, [[received.facet, { content, conflicts: [] }]])
}

function storedObjectOf(
  id: ObjectId,
  type: ObjectType,
  facets: Iterable<readonly [FacetName, { content: FacetContent; conflicts: FieldConflict[] }]>,
): StoredObject {
  const object: StoredObject = {
    id,
    type,
    fields: {},
    custom: {},
    deleted: false,
    updatedAt: '',
    written: {},
    conflicts: [],
  }
  let latest = 0
  let oldest: WrittenBy | undefined
  for (const [facet, { content, conflicts }] of facets) {
    const isCore = facet === CORE_FACET
    const name = (field: string) => (isCore ? field : `custom.${field}`)
    if (isCore) {
      object.fields = content.fields
      object.deleted = content.deleted
      if (content.keptApart !== undefined) object.keptApartFrom = content.keptApart as ObjectId
    } else {
      Object.assign(object.custom, content.fields)
    }
    for (const [field, stamp] of Object.entries(content.meta)) {
      object.written[name(field)] = stamp
      latest = Math.max(latest, stamp.at)
      if (isCore && (oldest === undefined || stamp.at < oldest.at)) oldest = stamp
    }
    object.conflicts.push(...conflicts.map((conflict) => name(conflict.field)))
  }
  object.updatedAt = timeText(latest)
  if (oldest !== undefined) object.createdBy = oldest.by
  return object
}

/**
 * Gives `survivor` the fields, custom fields and stamps only `merged` has: the survivor's
 * own values win, so every instance shows a merged object alike.
 */
export function fillMissing(survivor: StoredObject, merged: StoredObject): void {
  for (const [name, value] of Object.entries(merged.fields)) {
    if (survivor.fields[name] === undefined) {
      survivor.fields[name] = value
      const stamp = merged.written[name]
      if (stamp !== undefined) survivor.written[name] = stamp
    }
  }
  for (const [name, value] of Object.entries(merged.custom)) {
    if (survivor.custom[name] === undefined) {
      survivor.custom[name] = value
      const stamp = merged.written[`custom.${name}`]
      if (stamp !== undefined) survivor.written[`custom.${name}`] = stamp
    }
  }
}

/** References (personId, organizationId, ownerId, …) name the survivor of what they name. */
export function followMerges(
  object: StoredObject,
  survivorOf: (id: ObjectId) => ObjectId,
): StoredObject {
  for (const [name, value] of Object.entries(object.fields)) {
    if (typeof value === 'string' && fieldSpec(object.type, name)?.kind === 'objectId') {
      const survivor = survivorOf(value as ObjectId)
      if (survivor !== value) object.fields[name] = survivor
    }
  }
  return object
}

/** A new object as created here: every field written by `stamp`, no conflicts. */
export function createdObject(
  id: ObjectId,
  type: ObjectType,
  valid: NewObjectInput,
  stamp: WriteStamp,
): StoredObject {
  const written: Record<string, WrittenBy> = {}
  for (const name of Object.keys(valid.fields)) written[name] = stamp
  for (const name of Object.keys(valid.custom ?? {})) written[`custom.${name}`] = stamp
  return {
    id,
    type,
    fields: valid.fields,
    custom: valid.custom ?? {},
    deleted: false,
    updatedAt: timeText(stamp.at),
    written,
    conflicts: [],
  }
}

export function conflictsOf(id: ObjectId, loaded: LoadedObject, sources: Sources): ConflictEntry[] {
  const entries: ConflictEntry[] = []
  for (const [facet, state] of loaded.facets) {
    const source = sourceOfTruth(sources, loaded.type, facet)
    for (const conflict of resolveFacet(state.doc, source, facetId(id, facet)).conflicts) {
      entries.push({
        object: id,
        type: loaded.type,
        field: facet === CORE_FACET ? conflict.field : `custom.${conflict.field}`,
        winner: conflict.winner,
        losers: conflict.losers,
      })
    }
  }
  return entries
}

/** The top-level fields a facet holds, and `deleted` when it is tombstoned, sorted. */
export function fieldsOf(content: FacetContent): string[] {
  return [...Object.keys(content.fields), ...(content.deleted ? ['deleted'] : [])].sort()
}

function sourceOfTruth(sources: Sources, type: ObjectType, facet: FacetName): SourceOfTruth {
  if (sources === undefined) return () => undefined
  const prefix = facet === CORE_FACET ? `${type}.` : `${type}.custom.`
  return (field) => sources[prefix + field]
}
