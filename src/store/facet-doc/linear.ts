// A facet whose history is one line — its genesis, the change that created it, then edits
// each made after the one before (no concurrent changes, so no conflicts) that set or
// delete plain field values and their stamps — read and edited from its bytes, without
// loading a document. This is the form nearly every record keeps: edited in one place
// at a time. A bulk edit of 20,000 rows spent ≈ 0.5 ms a row loading documents on each
// side; reading the line costs a fraction of that.
//
// Deliberately narrow, as the created form's reader is: any change outside the form
// (a list or map value, a tombstone, a merge, concurrent changes, a message) makes the
// reader answer undefined, and the caller loads the document as before. A line the
// reader takes reads exactly as Automerge reads it (held to it by test/store/linear.test.ts).
import * as A from '@automerge/automerge'
import { hash } from 'node:crypto'
import type { FieldValue } from '../../model/index.ts'
import {
  readCanonicalChange,
  readChangeColumns,
  writeChangeColumns,
  type ChangeColumns,
  type ColumnOp,
} from '../change-reader.ts'
import { FIELDS_OBJECT, GENESIS_ACTOR, META_OBJECT, type WriteStamp } from './layout.ts'
import {
  changeChunkEnd,
  genesisPrefix,
  isPlainScalar,
  readCreatedChange,
  type CreatedOps,
  type EncodedFacet,
} from './read-created.ts'
import { OpIds } from './op-ids.ts'
import { changeTime, parseStamp } from './stamps.ts'
import { sameValue } from './values.ts'

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
interface EditOp {
  action: 'set' | 'del'
  obj: string
  key: string
  value?: string | number | boolean
  datatype?: 'int'
  pred: string[]
}

interface EditChange {
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
  options: { fieldsAt?: number; storedUpTo?: number } = {},
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
  let fieldsAt = end === options.fieldsAt ? { ...facet.fields } : undefined
  while (end < bytes.length) {
    start = end
    end = changeChunkEnd(bytes, start)
    if (end === undefined) return undefined
    const chunk = bytes.subarray(start, end)
    const change = decodeEdit(chunk, end <= storedUpTo)
    if (change === undefined || !applyEdit(facet, change, change.hash)) return undefined
    facet.ends.push(end)
    if (end === options.fieldsAt) fieldsAt = { ...facet.fields }
  }
  if (options.fieldsAt !== undefined) facet.fieldsAt = fieldsAt
  facet.fields = sortedRecord(facet.fields)
  facet.meta = sortedRecord(facet.meta)
  return facet
}

/**
 * The change that writes `patch` (null deletes a field) and its stamps after the line's
 * last change, as Automerge.change would write it on the loaded document; the facet is
 * updated to read with it. 'unchanged' when nothing differs (as changeFacetDoc decides);
 * undefined when the edit leaves the form (a list or map value, a float), to be made on
 * the loaded document instead.
 */
export function writeLinearEdit(
  facet: LinearFacet,
  patch: Record<string, FieldValue | null>,
  stamp: WriteStamp,
  actor: string,
  force: ReadonlySet<string>,
): Uint8Array | 'unchanged' | undefined {
  const changed = Object.entries(patch).filter(
    ([name, value]) => force.has(name) || !sameValue(facet.fields[name], value ?? undefined),
  )
  if (changed.length === 0) return 'unchanged'
  const written = `${stamp.at} ${stamp.by}`
  const ops: EditOp[] = []
  for (const [name, value] of changed) {
    const current = facet.fields[name]
    if (typeof current === 'object' || !isWritableScalar(value)) return undefined
    const fieldOp = facet.fieldOps.get(name)
    if (value === null) {
      if (fieldOp === undefined) return undefined // deleting nothing: left to Automerge
      ops.push({ action: 'del', obj: FIELDS_OBJECT, key: name, pred: [fieldOp] })
    } else if (value === current) {
      // A value written again (forced) as it is: Automerge writes no op for it, only
      // the stamp.
    } else {
      const op: EditOp = { action: 'set', obj: FIELDS_OBJECT, key: name, value, pred: [] }
      if (typeof value === 'number') op.datatype = 'int'
      if (fieldOp !== undefined) op.pred.push(fieldOp)
      ops.push(op)
    }
    const metaOp = facet.metaOps.get(name)
    ops.push({
      action: 'set',
      obj: META_OBJECT,
      key: name,
      value: written,
      pred: metaOp === undefined ? [] : [metaOp],
    })
  }
  const last = facet.lastOf.get(actor)
  const change: EditChange = {
    actor,
    seq: (last?.seq ?? 0) + 1,
    startOp: facet.maxOp + 1,
    time: changeTime(stamp),
    message: null,
    deps: dependencies(facet.heads[0]!, last?.hash),
    ops,
  }
  const bytes = encodeEdit(change)
  if (bytes === undefined || !applyEdit(facet, change, changeHash(bytes))) return undefined
  facet.ends.push(facet.ends.at(-1)! + bytes.length)
  facet.fields = sortedRecord(facet.fields)
  facet.meta = sortedRecord(facet.meta)
  return bytes
}

function isWritableScalar(value: FieldValue | null): value is string | boolean | number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value)
  return value === null || typeof value === 'string' || typeof value === 'boolean'
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
 * The bytes of an edit change: by the change writer, or by Automerge.encodeChange for
 * what the writer leaves (both write the same bytes: test/store/change-writer-edits.test.ts).
 */
function encodeEdit(change: EditChange): Uint8Array | undefined {
  const others = new Set<string>()
  for (const op of change.ops) {
    others.add(actorOf(op.obj))
    for (const pred of op.pred) others.add(actorOf(pred))
  }
  others.delete(change.actor)
  const actors = [change.actor, ...[...others].sort()]
  const index = new Map(actors.map((actor, i) => [actor, i]))
  const ops: ColumnOp[] = change.ops.map((op) => {
    const [objCtr, objActor] = opIdParts(op.obj, index)
    const column: ColumnOp = {
      action: op.action,
      objActor,
      objCtr,
      key: op.key,
      elemActor: -1,
      elemCtr: 0,
      insert: false,
    }
    if (op.value !== undefined) column.value = op.value
    if (op.datatype !== undefined) column.datatype = op.datatype
    if (op.pred.length > 0) {
      column.pred = op.pred.map((pred) => {
        const [counter, actor] = opIdParts(pred, index)
        return { actor, counter }
      })
    }
    return column
  })
  const { seq, startOp, time, deps } = change
  const written = writeChangeColumns({ actors, seq, startOp, time, deps, ops })
  if (written !== undefined) return written
  try {
    return A.encodeChange(change as unknown as A.DecodedChange)
  } catch {
    return undefined // a string Automerge refuses (a lone surrogate): the loaded path's
  }
}

function actorOf(opId: string): string {
  return opId.slice(opId.indexOf('@') + 1)
}

function opIdParts(opId: string, index: ReadonlyMap<string, number>): [number, number] {
  const at = opId.indexOf('@')
  return [Number(opId.slice(0, at)), index.get(opId.slice(at + 1))!]
}

/**
 * Applies an edit change to the facet, or returns false (the facet then half-changed:
 * drop it) when the change is not the next in the line or an op leaves the form.
 */
function applyEdit(facet: LinearFacet, change: EditChange, changeHash: string): boolean {
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
function dependencies(head: string, authorsLast: string | undefined): string[] {
  if (authorsLast === undefined || authorsLast === head) return [head]
  return authorsLast < head ? [authorsLast, head] : [head, authorsLast]
}

function sameDeps(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((dep, i) => dep === b[i])
}

/** A change chunk's hash: SHA-256 of the chunk from its type byte on. */
function changeHash(chunk: Uint8Array): string {
  return hash('sha256', chunk.subarray(8), 'hex')
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  const keys = Object.keys(record)
  let inOrder = true
  for (let i = 1; i < keys.length && inOrder; i++) inOrder = keys[i - 1]! < keys[i]!
  if (inOrder) return record
  const sorted: Record<string, T> = {}
  for (const key of Object.keys(record).sort()) sorted[key] = record[key]!
  return sorted
}
