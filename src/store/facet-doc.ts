// How one facet is laid out as an Automerge document, and the only code that reads or
// writes that layout:
//
//   { type: "person", fields: { firstName: "Anna", roles: ["a"], … },
//     meta: { firstName: "1732300000000 12D3KooW…" }, deleted?: true }
//
// Strings are ImmutableString: a field is replaced whole, never merged per character,
// which is what users of records expect and costs about half of Automerge text. `meta`
// holds, per field, when (wall-clock ms) and by which instance it was last written, as
// one immutable "at by" string: one op per field instead of a nested map (measured:
// create+save ≈ 0.26 ms against 0.5 ms with a `{ by, at }` map per field).
import * as A from '@automerge/automerge'
import type { FieldValue, InstanceId, ObjectType } from '../model/index.ts'
import { readChangeColumns, type ColumnOp } from './change-reader.ts'

type StoredScalar = A.ImmutableString | boolean | number
type StoredValue = StoredScalar | StoredScalar[] | { [key: string]: StoredScalar }

export type FacetDoc = {
  type: A.ImmutableString
  fields: Record<string, StoredValue>
  meta: Record<string, A.ImmutableString>
  deleted?: boolean
}

export type Doc = A.Doc<FacetDoc>

/** Who wrote a field, and when (ms since the epoch, the writer's wall clock). */
export interface WriteStamp {
  by: InstanceId
  at: number
}

export interface FacetContent {
  type: string | undefined
  fields: Record<string, FieldValue>
  meta: Record<string, WriteStamp>
  deleted: boolean
}

/** The field name under which a tombstone's stamp is kept in `meta`. */
export const DELETED_META = 'deleted'

// Every facet of a type grows from the same genesis change: a fixed actor, time 0 and
// the same content, so its hash is equal on every instance. Two instances that create
// the same facet concurrently (say, both add the first field of a custom group) then
// share the root `fields` and `meta` maps, and their fields merge key by key instead of
// one whole map hiding the other.
const GENESIS_ACTOR = '0000000000000000'
// The genesis makes three ops: `type` (1), the `fields` map (2) and the `meta` map (3).
const FIELDS_OBJECT = `2@${GENESIS_ACTOR}`
const META_OBJECT = `3@${GENESIS_ACTOR}`
// The counters of those two ops of the genesis change.
const FIELDS_COUNTER = 2
const META_COUNTER = 3
const FIRST_CONTENT_OP = 4

interface Genesis {
  change: Uint8Array
  hash: string
}
const genesisByType = new Map<string, Genesis>()

function genesis(type: string): Genesis {
  let found = genesisByType.get(type)
  if (found === undefined) {
    const doc = A.change(A.init<FacetDoc>({ actor: GENESIS_ACTOR }), { time: 0 }, (draft) => {
      draft.type = new A.ImmutableString(type)
      draft.fields = {}
      draft.meta = {}
    })
    found = { change: A.getLastLocalChange(doc)!, hash: A.getHeads(doc)[0]! }
    A.free(doc)
    genesisByType.set(type, found)
  }
  return found
}

/**
 * True when the document's root maps are the ones a genesis creates, with no rival root
 * of their own. (Checking the object ids is ≈ 20× cheaper than looking the genesis change
 * up; a forged genesis with other content fails later, when the real one meets it.)
 */
export function hasGenesisOf(doc: Doc, type: string): boolean {
  return (
    A.getObjectId(doc, 'fields') === FIELDS_OBJECT &&
    A.getObjectId(doc, 'meta') === META_OBJECT &&
    readType(doc) === type &&
    ['type', 'fields', 'meta'].every((key) => A.getConflicts(doc, key) === undefined)
  )
}

function readType(doc: Doc): string | undefined {
  const type = doc.type as unknown
  return type instanceof A.ImmutableString ? type.val : undefined
}

/**
 * The bytes of a new facet — its genesis change followed by one change that writes every
 * field — loadable with Automerge.load. The change is encoded directly instead of through
 * a document proxy: ≈ 60 µs against ≈ 500 µs for load + change + save, which is what lets
 * an import or a first sync create thousands of objects a second. `actor` must be unique
 * to this store session (hex).
 */
export function encodeNewFacet(
  type: ObjectType,
  fields: Record<string, FieldValue>,
  stamp: WriteStamp,
  actor: string,
): Uint8Array {
  if (Object.values(fields).some(isFloat)) {
    const doc = createThroughProxy(type, fields, stamp, actor)
    try {
      return A.save(doc)
    } finally {
      A.free(doc)
    }
  }
  const ops: ChangeOp[] = []
  const nextOpId = () => `${FIRST_CONTENT_OP + ops.length}@${actor}`
  const written = encodeStamp(stamp).val
  for (const [key, value] of Object.entries(fields)) {
    if (Array.isArray(value)) {
      const list = nextOpId()
      ops.push({ action: 'makeList', obj: FIELDS_OBJECT, key, pred: [] })
      let previous = '_head'
      for (const item of value) {
        const element = nextOpId()
        ops.push({
          action: 'set',
          obj: list,
          elemId: previous,
          insert: true,
          value: item,
          pred: [],
        })
        previous = element
      }
    } else if (typeof value === 'object') {
      const map = nextOpId()
      ops.push({ action: 'makeMap', obj: FIELDS_OBJECT, key, pred: [] })
      for (const [entry, item] of Object.entries(value)) {
        ops.push({ action: 'set', obj: map, key: entry, value: item, pred: [] })
      }
    } else {
      ops.push({ action: 'set', obj: FIELDS_OBJECT, key, pred: [], ...scalarOp(value) })
    }
    ops.push({ action: 'set', obj: META_OBJECT, key, value: written, pred: [] })
  }
  const { change, hash } = genesis(type)
  const content = A.encodeChange({
    actor,
    seq: 1,
    startOp: FIRST_CONTENT_OP,
    time: Math.floor(stamp.at / 1000),
    message: null,
    deps: [hash],
    ops,
  } as unknown as Parameters<typeof A.encodeChange>[0])
  const bytes = new Uint8Array(change.length + content.length)
  bytes.set(change)
  bytes.set(content, change.length)
  return bytes
}

/** The content of a facet read from its bytes without loading it (see readEncodedFacet). */
export interface EncodedFacet extends FacetContent {
  type: ObjectType
  heads: string[]
}

// Automerge chunk header: 4 magic bytes, 4 checksum bytes, 1 type byte (1 = change), then
// the body length as unsigned LEB128.
const CHUNK_MAGIC = [0x85, 0x6f, 0x4a, 0x83]
const CHANGE_CHUNK = 1

function singleChangeChunk(bytes: Uint8Array): boolean {
  if (
    bytes.length < 10 ||
    CHUNK_MAGIC.some((byte, i) => bytes[i] !== byte) ||
    bytes[8] !== CHANGE_CHUNK
  ) {
    return false
  }
  let length = 0
  let offset = 9
  for (let shift = 0; shift < 35; shift += 7) {
    const byte = bytes[offset++]
    if (byte === undefined) return false
    length += (byte & 0x7f) * 2 ** shift
    if ((byte & 0x80) === 0) return offset + length === bytes.length
  }
  return false
}

/**
 * Reads a facet stored as encodeNewFacet writes it — the genesis change of a type, then
 * one change that sets fields — by decoding that one change instead of loading a
 * document: ≈ 70 µs against ≈ 250 µs, which is most of what a first sync costs the
 * receiver. Returns undefined for any other form (the caller then loads the document);
 * throws when the bytes have this form but the change does not decode.
 */
export function readEncodedFacet(bytes: Uint8Array): EncodedFacet | undefined {
  let type: ObjectType | undefined
  let prefix: Genesis | undefined
  for (const candidate of OBJECT_TYPE_NAMES) {
    const found = genesis(candidate)
    if (bytes.length > found.change.length && startsWith(bytes, found.change)) {
      type = candidate
      prefix = found
      break
    }
  }
  if (type === undefined || prefix === undefined) return undefined
  const rest = bytes.subarray(prefix.change.length)
  if (!singleChangeChunk(rest)) return undefined
  // Only what the narrow reader takes goes the fast way; anything else (including forms
  // Automerge decodes but would not load back once saved) takes the document path.
  // Automerge's decoder still runs on it, so that bytes that don't decode are refused.
  const change = readChangeColumns(rest)
  if (change === undefined) {
    A.decodeChange(rest)
    return undefined
  }
  const { actors } = change
  if (
    change.seq !== 1 ||
    change.startOp !== FIRST_CONTENT_OP ||
    change.deps.length !== 1 ||
    change.deps[0] !== prefix.hash ||
    // The genesis actor writes only the genesis: a second change as it can't load.
    actors[0] === GENESIS_ACTOR
  ) {
    return undefined
  }
  // Ids compared as (actor, counter): the genesis' fields and meta maps, and the lists
  // and maps this change creates (its own actor; an actor may be listed twice).
  const isGenesis = actors.map((actor) => actor === GENESIS_ACTOR)
  const isOwn = actors.map((actor) => actor === actors[0])
  const fields: Record<string, FieldValue> = {}
  const meta: Record<string, WriteStamp> = {}
  // A key written twice in one object (a list, then a string, under one name) reads as a
  // conflict in Automerge: leave such a change to the document path.
  const fieldKeys = new Set<string>()
  const metaKeys = new Set<string>()
  // By the counter of the op that made them.
  const lists = new Map<number, { key: string; items: string[]; last: number }>()
  const maps = new Map<
    number,
    { key: string; entries: Record<string, string>; keys: Set<string> }
  >()
  let counter = FIRST_CONTENT_OP
  for (const op of change.ops) {
    const opCounter = counter++
    const onGenesis = op.objActor >= 0 && isGenesis[op.objActor]!
    const onOwn = op.objActor >= 0 && isOwn[op.objActor]!
    const map = onOwn ? maps.get(op.objCtr) : undefined
    const list = onOwn ? lists.get(op.objCtr) : undefined
    const key = op.key
    if (key !== undefined) {
      const keys =
        onGenesis && op.objCtr === FIELDS_COUNTER
          ? fieldKeys
          : onGenesis && op.objCtr === META_COUNTER
            ? metaKeys
            : map?.keys
      if (keys !== undefined) {
        if (keys.has(key)) return undefined
        keys.add(key)
      }
    }
    if (onGenesis && op.objCtr === FIELDS_COUNTER && key !== undefined && !op.insert) {
      if (op.action === 'makeList') lists.set(opCounter, { key, items: [], last: 0 })
      else if (op.action === 'makeMap') {
        maps.set(opCounter, { key, entries: {}, keys: new Set() })
      } else if (op.action === 'set' && isPlainScalar(op)) fields[key] = op.value!
      else return undefined
    } else if (
      onGenesis &&
      op.objCtr === META_COUNTER &&
      op.action === 'set' &&
      key !== undefined
    ) {
      if (typeof op.value !== 'string') return undefined
      const stamp = parseStamp(op.value)
      if (stamp === undefined) return undefined
      meta[key] = stamp
    } else if (
      list !== undefined &&
      op.action === 'set' &&
      op.insert &&
      typeof op.value === 'string'
    ) {
      // Each element after the one before it: the head first, then this change's own.
      const follows =
        list.last === 0
          ? op.elemActor < 0
          : op.elemActor >= 0 && isOwn[op.elemActor]! && op.elemCtr === list.last
      if (!follows) return undefined
      list.items.push(op.value)
      list.last = opCounter
    } else if (
      map !== undefined &&
      op.action === 'set' &&
      key !== undefined &&
      typeof op.value === 'string'
    ) {
      map.entries[key] = op.value
    } else {
      return undefined
    }
  }
  for (const list of lists.values()) fields[list.key] = list.items
  for (const map of maps.values()) fields[map.key] = map.entries
  return { type, fields, meta, deleted: false, heads: [change.hash] }
}

const OBJECT_TYPE_NAMES: readonly ObjectType[] = ['person', 'organization', 'transaction', 'file']

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false
  return true
}

// Only the scalars encodeNewFacet writes: strings and booleans untyped, integers as int.
// Anything else (a timestamp, a counter, bytes) reads differently from a loaded document.
function isPlainScalar(op: Pick<ColumnOp, 'value' | 'datatype'>): boolean {
  if (typeof op.value === 'number') return op.datatype === 'int' && Number.isSafeInteger(op.value)
  return (
    op.datatype === undefined && (typeof op.value === 'string' || typeof op.value === 'boolean')
  )
}

interface ChangeOp {
  action: 'set' | 'makeList' | 'makeMap'
  obj: string
  key?: string
  elemId?: string
  insert?: boolean
  value?: string | number | boolean
  datatype?: 'int' | 'float64'
  pred: string[]
}

// Automerge.encodeChange rounds some float64 values by one unit in the last place
// (9.034873153706715e-26 reads back as …716e-26), so a facet with a non-integer number
// is written through a document proxy, which keeps the exact value.
function isFloat(value: FieldValue): boolean {
  return typeof value === 'number' && !Number.isSafeInteger(value)
}

function createThroughProxy(
  type: ObjectType,
  fields: Record<string, FieldValue>,
  stamp: WriteStamp,
  actor: string,
): Doc {
  const empty = A.load<FacetDoc>(genesis(type).change, { actor: actor })
  const written = encodeStamp(stamp)
  return A.change(empty, { time: Math.floor(stamp.at / 1000) }, (draft) => {
    for (const [name, value] of Object.entries(fields)) {
      draft.fields[name] = encodeValue(value)
      draft.meta[name] = written
    }
  })
}

// A plain string in a change is a scalar string, which Automerge reads back as an
// ImmutableString (text would be a separate makeText object).
function scalarOp(value: string | number | boolean): Pick<ChangeOp, 'value' | 'datatype'> {
  if (typeof value !== 'number') return { value }
  return { value, datatype: 'int' }
}

/** A new facet as a live document, for code that needs the handle at once. */
export function createFacetDoc(
  type: ObjectType,
  fields: Record<string, FieldValue>,
  stamp: WriteStamp,
  actor: string,
): Doc {
  return A.load<FacetDoc>(encodeNewFacet(type, fields, stamp, actor), { actor: actor })
}

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
  return A.change(doc, { time: Math.floor(stamp.at / 1000) }, (draft) => {
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
  return A.change(doc, { time: Math.floor(stamp.at / 1000) }, (draft) => {
    draft.deleted = true
    draft.meta[DELETED_META] = encodeStamp(stamp)
  })
}

/** Lifts a tombstone: the object is there again, with the fields it had. */
export function restoreFacetDoc(doc: Doc, stamp: WriteStamp): Doc {
  return A.change(doc, { time: Math.floor(stamp.at / 1000) }, (draft) => {
    draft.deleted = false
    draft.meta[DELETED_META] = encodeStamp(stamp)
  })
}

/**
 * The content of a facet from its stored bytes: read without loading when it is still in
 * its created form, loaded (and freed) otherwise. Undefined when the bytes don't load.
 */
export function readFacetBytes(bytes: Uint8Array): FacetContent | undefined {
  try {
    const quick = readEncodedFacet(bytes)
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
  const type = doc.type as unknown
  return {
    type: type instanceof A.ImmutableString ? type.val : undefined,
    fields,
    meta,
    deleted: doc.deleted === true,
  }
}

function sortedEntries(record: Record<string, unknown>): [string, unknown][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

function encodeStamp(stamp: WriteStamp): A.ImmutableString {
  return new A.ImmutableString(`${stamp.at} ${stamp.by}`)
}

export function decodeStamp(value: unknown): WriteStamp | undefined {
  return value instanceof A.ImmutableString ? parseStamp(value.val) : undefined
}

function parseStamp(text: string): WriteStamp | undefined {
  const space = text.indexOf(' ')
  const at = Number(text.slice(0, space))
  if (space < 0 || !Number.isSafeInteger(at)) return undefined
  return { at, by: text.slice(space + 1) as InstanceId }
}

function encodeScalar(value: string | number | boolean): StoredScalar {
  return typeof value === 'string' ? new A.ImmutableString(value) : value
}

function encodeValue(value: FieldValue): StoredValue {
  if (Array.isArray(value)) return value.map(encodeScalar)
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeScalar(v)]))
  }
  return encodeScalar(value)
}

// Documents come from peers too: anything that is not a shape we write decodes to
// undefined and is dropped, rather than passing a stray Automerge type to callers.
function decodeScalar(value: unknown): string | number | boolean | undefined {
  if (value instanceof A.ImmutableString) return value.val
  if (typeof value === 'boolean' || typeof value === 'number') return value
  if (typeof value === 'string') return value
  // Automerge reads integers near 2^53 back as bigint.
  if (typeof value === 'bigint' && Number.isSafeInteger(Number(value))) return Number(value)
  return undefined
}

export function decodeValue(value: unknown): FieldValue | undefined {
  if (Array.isArray(value)) {
    const items = value.map(decodeScalar)
    return items.every((item) => typeof item === 'string') ? items : undefined
  }
  if (typeof value === 'object' && value !== null && !(value instanceof A.ImmutableString)) {
    const entries = Object.entries(value).map(([k, v]) => [k, decodeScalar(v)] as const)
    if (!entries.every(([, v]) => typeof v === 'string')) return undefined
    return Object.fromEntries(entries) as Record<string, string>
  }
  return decodeScalar(value)
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

export function sameValue(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, index) => item === b[index])
    )
  }
  if (typeof a === 'object' && typeof b === 'object') {
    const keys = Object.keys(a)
    return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key])
  }
  return false
}
