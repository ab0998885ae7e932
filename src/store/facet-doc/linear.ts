// A facet whose history is one line — its genesis, the change that created it, then edits
// each made after the one before (no concurrent changes, so no conflicts) that set or
// delete plain field values and their stamps — read and edited from its bytes, without
// loading a document. This is the form nearly every record keeps: edited in one place
// at a time. A bulk edit of 20,000 rows spent ≈ 0.5 ms a row loading documents on each
// side; reading the line costs a fraction of that.
//
// Deliberately narrow, as the created form's reader is: any change outside the form
// (a list or map value, a tombstone, a merge, concurrent changes) makes the
// reader answer undefined, and the caller loads the document as before. A line the
// reader takes reads exactly as Automerge reads it (held to it by test/store/linear.test.ts).
import { hash } from 'node:crypto'
import type { FieldValue } from '../../model/index.ts'
import { readCanonicalChange, readChangeColumns, type ChangeColumns } from '../change-reader.ts'
import { FIELDS_OBJECT, GENESIS_ACTOR, META_OBJECT } from './layout.ts'
import {
  changeChunkEnd,
  genesisPrefix,
  isPlainScalar,
  readCreatedChange,
  type CreatedOps,
  type EncodedFacet,
} from './read-created.ts'
import { OpIds } from './op-ids.ts'
import { parseStamp } from './stamps.ts'

/** A facet read as a line of changes (see above), with what writing the next one needs. */
export interface LinearFacet extends EncodedFacet {
  /** Where each change after the genesis ends in the bytes read. */
  ends: number[]
  /** The fields each of those changes set or deleted (none listed for the created one). */
  touched: string[][]
  /** As asked of readLinearFacet: the fields where a change ends. */
  fieldsAt?: Record<string, FieldValue> | undefined
  /** The largest op counter so far: the next change starts after it. */
  maxOp: number
  /** The last change of each actor that wrote one: its sequence number and hash. */
  lastOf: Map<string, { seq: number; hash: string }>
  /** The id ("counter@actor") of the op that holds each field, and each stamp. */
  fieldOps: OpIds
  metaOps: OpIds
}

/** A copy of `facet` to edit, sharing nothing writeLinearEdit changes. */
export function cloneLine(facet: LinearFacet): LinearFacet {
  return {
    ...facet,
    fields: { ...facet.fields },
    meta: { ...facet.meta },
    heads: [...facet.heads],
    ends: [...facet.ends],
    touched: [...facet.touched],
    lastOf: new Map(facet.lastOf),
    fieldOps: facet.fieldOps.copy(),
    metaOps: facet.metaOps.copy(),
  }
}

/** An op of an edit change as this module reads and writes it. */
export interface EditOp {
  action: 'set' | 'del'
  obj: string
  key: string
  value?: string | number | boolean
  datatype?: 'int'
  pred: string[]
}

export interface EditChange {
  actor: string
  seq: number
  startOp: number
  time: number
  message: null
  deps: string[]
  ops: EditOp[]
}

/**
 * The facet in `bytes` (genesis, then change chunks) if it is a line; else undefined.
 * With `fieldsAt` (where a change ends in `bytes`), also the fields as they were there.
 * Changes that end past `storedUpTo` (default: all) must be in the one form Automerge
 * writes (readCanonicalChange): what is stored without Automerge must be. The bytes
 * before it are stored already, and reading them as they are changes nothing stored.
 */
export function readLinearFacet(
  bytes: Uint8Array,
  options: {
    fieldsAt?: number
    storedUpTo?: number
    /** Told of each change after the genesis as it is read, with the facet after it. */
    onChange?: (facet: LinearFacet, chunk: Uint8Array) => void
  } = {},
): LinearFacet | undefined {
  const storedUpTo = options.storedUpTo ?? 0
  const found = genesisPrefix(bytes)
  if (found === undefined) return undefined
  let start = found.prefix.change.length
  let end = changeChunkEnd(bytes, start)
  if (end === undefined) return undefined
  const created: CreatedOps = { fields: new Map(), meta: new Map() }
  const content = readCreatedChange(bytes.subarray(start, end), found, created, end <= storedUpTo)
  if (content === undefined) return undefined
  const author = created.actor!
  const facet: LinearFacet = {
    ...content,
    ends: [end],
    touched: [[]], // the created change: only edits are compared (see extendLine)
    maxOp: created.lastOp!,
    lastOf: new Map([[author, { seq: 1, hash: content.heads[0]! }]]),
    fieldOps: new OpIds(created.fields, author),
    metaOps: new OpIds(created.meta, author),
  }
  options.onChange?.(facet, bytes.subarray(start, end))
  let fieldsAt = end === options.fieldsAt ? { ...facet.fields } : undefined
  while (end < bytes.length) {
    start = end
    end = changeChunkEnd(bytes, start)
    if (end === undefined) return undefined
    const chunk = bytes.subarray(start, end)
    const change = decodeEdit(chunk, end <= storedUpTo)
    if (change === undefined || !applyEdit(facet, change, change.hash)) return undefined
    facet.ends.push(end)
    options.onChange?.(facet, chunk)
    if (end === options.fieldsAt) fieldsAt = { ...facet.fields }
  }
  if (options.fieldsAt !== undefined) facet.fieldsAt = fieldsAt
  facet.fields = sortedRecord(facet.fields)
  facet.meta = sortedRecord(facet.meta)
  return facet
}

/**
 * An edit change's header, ops and hash, or undefined when it is not of that form, as
 * the narrow change reader reads it.
 */
function decodeEdit(
  chunk: Uint8Array,
  stored: boolean,
): (EditChange & { hash: string }) | undefined {
  // Only the form Automerge writes (see readCanonicalChange): any other encoding, even
  // one Automerge decodes, is left to the document path.
  const columns = stored ? readChangeColumns(chunk) : readCanonicalChange(chunk)
  return columns === undefined ? undefined : editOfColumns(columns)
}

function editOfColumns(columns: ChangeColumns): (EditChange & { hash: string }) | undefined {
  const { actors } = columns
  const ops: EditOp[] = []
  for (const op of columns.ops) {
    if (op.insert || op.key === undefined || op.objActor < 0) return undefined
    const pred = (op.pred ?? []).map(({ actor, counter }) => `${counter}@${actors[actor]!}`)
    const obj = `${op.objCtr}@${actors[op.objActor]!}`
    const edit = editOp(op.action, obj, op.key, pred, op.value, op.datatype)
    if (edit === undefined) return undefined
    ops.push(edit)
  }
  const { seq, startOp, time, deps, hash } = columns
  return { actor: actors[0]!, seq, startOp, time, message: null, deps, ops, hash }
}

/** An op of an edit change, or undefined when it is not a set of a plain value or a del. */
function editOp(
  action: string,
  obj: string,
  key: string,
  pred: string[],
  value: unknown,
  datatype: unknown,
): EditOp | undefined {
  if (action === 'del') return value === undefined ? { action, obj, key, pred } : undefined
  if (action !== 'set') return undefined
  const scalar = { value, datatype } as Parameters<typeof isPlainScalar>[0]
  if (!isPlainScalar(scalar)) return undefined
  const edit: EditOp = { action, obj, key, value: value as string | number | boolean, pred }
  if (datatype === 'int') edit.datatype = 'int'
  return edit
}

/**
 * Applies an edit change to the facet, or returns false (the facet then half-changed:
 * drop it) when the change is not the next in the line or an op leaves the form.
 */
export function applyEdit(facet: LinearFacet, change: EditChange, changeHash: string): boolean {
  const { actor, ops } = change
  const last = facet.lastOf.get(actor)
  const { deps } = change
  if (
    actor === GENESIS_ACTOR ||
    change.seq !== (last?.seq ?? 0) + 1 ||
    change.startOp !== facet.maxOp + 1 ||
    // After the last change; Automerge also names the author's own last change, which
    // is behind it.
    !(
      (deps.length === 1 && deps[0] === facet.heads[0]) ||
      sameDeps(deps, dependencies(facet.heads[0]!, last?.hash))
    )
  ) {
    return false
  }
  const fieldKeys = new Set<string>()
  const metaKeys = new Set<string>()
  let counter = change.startOp
  for (const op of ops) {
    const id = `${counter++}@${actor}`
    const onFields = op.obj === FIELDS_OBJECT
    if (!onFields && op.obj !== META_OBJECT) return false
    // One op per key and object in a change: two read as a conflict in Automerge.
    const keys = onFields ? fieldKeys : metaKeys
    if (keys.has(op.key)) return false
    keys.add(op.key)
    // Each op replaces exactly what holds its key now: anything else is concurrent.
    const holder = (onFields ? facet.fieldOps : facet.metaOps).get(op.key)
    if (
      holder === undefined ? op.pred.length !== 0 : op.pred.length !== 1 || op.pred[0] !== holder
    ) {
      return false
    }
    if (onFields) {
      if (typeof facet.fields[op.key] === 'object') return false // a list or map replaced
      if (op.action === 'del') {
        delete facet.fields[op.key]
        facet.fieldOps.delete(op.key)
      } else {
        facet.fields[op.key] = op.value!
        facet.fieldOps.set(op.key, id)
      }
    } else {
      if (op.action !== 'set' || typeof op.value !== 'string') return false
      const stamp = parseStamp(op.value)
      if (stamp === undefined) return false
      facet.meta[op.key] = stamp
      facet.metaOps.set(op.key, id)
    }
  }
  facet.maxOp = counter - 1
  facet.lastOf.set(actor, { seq: change.seq, hash: changeHash })
  facet.heads = [changeHash]
  facet.touched.push([...fieldKeys])
  return true
}

/** The dependencies Automerge gives a change: the head and the author's last change. */
export function dependencies(head: string, authorsLast: string | undefined): string[] {
  if (authorsLast === undefined || authorsLast === head) return [head]
  return authorsLast < head ? [authorsLast, head] : [head, authorsLast]
}

function sameDeps(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((dep, i) => dep === b[i])
}

/** A change chunk's hash: SHA-256 of the chunk from its type byte on. */
export function changeHash(chunk: Uint8Array): string {
  return hash('sha256', chunk.subarray(8), 'hex')
}

export function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  const keys = Object.keys(record)
  let inOrder = true
  for (let i = 1; i < keys.length && inOrder; i++) inOrder = keys[i - 1]! < keys[i]!
  if (inOrder) return record
  const sorted: Record<string, T> = {}
  for (const key of Object.keys(record).sort()) sorted[key] = record[key]!
  return sorted
}
