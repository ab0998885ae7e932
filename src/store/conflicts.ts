// Concurrent writes to one field: the later edit by wall clock wins, the same way on every
// instance, and the values that lost stay visible so that a person can restore one.
//
// Automerge keeps every concurrent value of a map key (its own pick is by op id, which
// users can't predict). A field's value and its write stamp are written in the same
// change, so the value and the stamp of one write share an actor: that pairs them.
//
// A source of truth's write wins only if it is proven its: the change that wrote the
// stamp carries the source's signature (store/authorship.ts). A stamp merely naming it —
// a peer writing `by: <finance office>` — counts as no one's.
import * as A from '@automerge/automerge'
import { provesAuthor } from './authorship.ts'
import type { FieldValue, InstanceId } from '../model/index.ts'
import {
  DELETED_META,
  decodeStamp,
  decodeValue,
  readFacetDoc,
  type Doc,
  type FacetContent,
  type WriteStamp,
} from './facet-doc.ts'

export interface ConflictValue {
  /** undefined when this write cleared the field. */
  value: FieldValue | undefined
  by: InstanceId
  at: number
}

export interface FieldConflict {
  field: string
  winner: ConflictValue
  losers: ConflictValue[]
}

interface Candidate extends ConflictValue {
  opId: string
  /** Written, provably, by the field's source of truth. */
  authority: boolean
}

function actorOf(opId: string): string {
  return opId.slice(opId.indexOf('@') + 1)
}

/** For a field, the instance whose writes win any conflict on it (a source of truth). */
export type SourceOfTruth = (field: string) => InstanceId | undefined

// The source of truth's write first, if the field has one; then the later wall clock;
// then the instance id and the op id, so every instance agrees on a winner even when two
// clocks read the same millisecond.
function later(a: Candidate, b: Candidate): boolean {
  if (a.authority !== b.authority) return a.authority
  if (a.at !== b.at) return a.at > b.at
  if (a.by !== b.by) return a.by > b.by
  return a.opId > b.opId
}

/**
 * The facet's content with every field resolved — by its source of truth where
 * `sourceOf` names one and proves the write its, else by the later write — and its
 * conflicts. `facet` is the facet's id, which proofs are bound to (none without it).
 */
export function resolveFacet(
  doc: Doc,
  sourceOf: SourceOfTruth = () => undefined,
  facet?: string,
): { content: FacetContent; conflicts: FieldConflict[] } {
  const content = readFacetDoc(doc)
  const fieldsObject = A.getObjectId(doc, 'fields')
  const metaObject = A.getObjectId(doc, 'meta')
  if (fieldsObject === null || metaObject === null) return { content, conflicts: [] }
  const backend = A.getBackend(doc)
  const conflicts: FieldConflict[] = []
  const changes = new WrittenChanges(doc)
  for (const field of Object.keys(content.meta)) {
    const stamps = backend.getAll(metaObject, field)
    if (stamps.length < 2) continue
    const values = backend.getAll(fieldsObject, field)
    const objects = values.some((entry) => entry.length === 2)
      ? (A.getConflicts(doc.fields, field) as Record<string, unknown> | undefined)
      : undefined
    const candidates: Candidate[] = []
    const valueOf = (written: (typeof values)[number] | undefined) =>
      written === undefined
        ? undefined
        : written.length === 3
          ? decodeValue(written[1])
          : decodeValue(objects?.[written[1]])
    for (const entry of stamps) {
      if (entry.length !== 3) continue
      const stamp: WriteStamp | undefined = decodeStamp(new A.ImmutableString(String(entry[1])))
      if (stamp === undefined) continue
      const actor = actorOf(entry[2])
      const written = values.find((value) => actorOf(valueOpId(value)) === actor)
      const value = valueOf(written)
      candidates.push({ value, by: stamp.by, at: stamp.at, opId: entry[2], authority: false })
    }
    if (candidates.length < 2) continue
    const source = sourceOf(field)
    for (const candidate of candidates) {
      if (source === undefined || candidate.by !== source || facet === undefined) continue
      const change = changes.containing(candidate.opId)
      if (change === undefined || !provesAuthor(facet, change.bytes, source)) continue
      // The value is the one the signed change wrote, not whatever value of the source's
      // actor is current: a peer can write an unsigned change under that actor which
      // replaces or deletes only the value. Still current, it is read from the document;
      // replaced since, a scalar or a delete is read from the signed change itself (a list
      // or map replaced since leaves the write unproven).
      const current = values.find((value) => change.made(valueOpId(value)))
      const written = current === undefined ? change.wrote(fieldsObject, field) : undefined
      if (current !== undefined) {
        candidate.value = valueOf(current)
        candidate.authority = true
      } else if (written !== undefined) {
        candidate.value = written.value
        candidate.authority = true
      }
    }
    const winner = candidates.reduce((best, candidate) =>
      later(candidate, best) ? candidate : best,
    )
    if (winner.value === undefined) delete content.fields[field]
    else content.fields[field] = winner.value
    content.meta[field] = { by: winner.by, at: winner.at }
    conflicts.push({
      field,
      winner: strip(winner),
      losers: candidates.filter((candidate) => candidate !== winner).map(strip),
    })
  }
  if (conflicts.length > 0) {
    // A field the default pick had cleared may have come back: restore name order.
    content.fields = Object.fromEntries(
      Object.entries(content.fields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    )
  }
  return { content, conflicts }
}

/**
 * Whether merging a peer's changes into the core facet set a delete against an edit the
 * deleter had not seen. We hold every change the delete was made on top of, so what
 * arrives for a document deleted here is concurrent with the delete; and a delete that
 * arrives while one of our own latest changes stays a head was made without it.
 */
export function deleteMeetsEdit(
  before: { deleted: boolean; heads: readonly string[] },
  after: { deleted: boolean; heads: readonly string[]; changedFields: readonly string[] },
): boolean {
  if (!after.deleted) return false
  const edits = after.changedFields.some((field) => field !== 'deleted')
  if (before.deleted) return edits
  return (
    after.changedFields.includes('deleted') &&
    before.heads.some((head) => after.heads.includes(head))
  )
}

/** The delete-against-edit entry of a deleted core facet: the delete, and the latest edit by someone else. */
export function deleteConflict(
  content: FacetContent,
): { winner: ConflictValue; losers: ConflictValue[] } | undefined {
  const deleted = content.meta[DELETED_META]
  if (!content.deleted || deleted === undefined) return undefined
  let edit: WriteStamp | undefined
  for (const [field, stamp] of Object.entries(content.meta)) {
    if (field === DELETED_META || stamp.by === deleted.by) continue
    if (edit === undefined || stamp.at > edit.at) edit = stamp
  }
  if (edit === undefined) return undefined
  return { winner: { value: true, ...deleted }, losers: [{ value: false, ...edit }] }
}

/** The op id of a value getAll returns: [type, value, id] for a scalar, [type, id] for an object. */
function valueOpId(value: readonly unknown[]): string {
  return String(value.length === 3 ? value[2] : value[1])
}

/** A change of a document, with the op counters it made. */
interface WrittenChange {
  bytes: Uint8Array
  first: number
  end: number
  /** Whether op `opId` ("counter@actor") is one of this change's. */
  made(opId: string): boolean
  /**
   * What it wrote to `key` of the map `object`, when that was a delete (value undefined) or
   * a scalar; undefined for anything else.
   */
  wrote(object: string, key: string): { value: FieldValue | undefined } | undefined
}

/**
 * The changes of a document by the ops they made: read once, when first asked, and
 * indexed by actor (each actor's changes in order of their first op), so that a document
 * with many changes is searched, not scanned, once per candidate.
 */
class WrittenChanges {
  private byActor: Map<string, WrittenChange[]> | undefined

  constructor(private readonly doc: Doc) {}

  /** The change that made op `opId` ("counter@actor"). */
  containing(opId: string): WrittenChange | undefined {
    this.byActor ??= this.index()
    const changes = this.byActor.get(actorOf(opId))
    if (changes === undefined) return undefined
    const counter = Number(opId.slice(0, opId.indexOf('@')))
    let [low, high] = [0, changes.length - 1]
    while (low <= high) {
      const middle = (low + high) >> 1
      const change = changes[middle]!
      if (counter < change.first) high = middle - 1
      else if (counter >= change.end) low = middle + 1
      else return change
    }
    return undefined
  }

  private index(): Map<string, WrittenChange[]> {
    const byActor = new Map<string, WrittenChange[]>()
    for (const bytes of A.getAllChanges(this.doc)) {
      const { actor, startOp, ops } = A.decodeChange(bytes)
      const change: WrittenChange = {
        bytes,
        first: startOp,
        end: startOp + ops.length,
        made: (opId) => {
          const counter = Number(opId.slice(0, opId.indexOf('@')))
          return actorOf(opId) === actor && startOp <= counter && counter < startOp + ops.length
        },
        wrote: (object, key) => {
          const op = ops.find((each) => each.obj === object && each.key === key)
          if (op?.action === 'del') return { value: undefined }
          if (op?.action !== 'set') return undefined
          const { value, datatype } = op as { value?: unknown; datatype?: string }
          if (typeof value === 'string' || typeof value === 'boolean') return { value }
          const numeric = datatype === undefined || ['int', 'uint', 'float64'].includes(datatype)
          return typeof value === 'number' && numeric ? { value } : undefined
        },
      }
      const list = byActor.get(actor) ?? []
      list.push(change)
      byActor.set(actor, list)
    }
    for (const list of byActor.values()) list.sort((a, b) => a.first - b.first)
    return byActor
  }
}

function strip({ value, by, at }: Candidate): ConflictValue {
  return { value, by, at }
}
