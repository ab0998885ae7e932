// The fast read of a facet still in its created form (the genesis change of a type, then
// one change that sets fields): decodes that one change with the narrow change reader
// instead of loading a document. This is what a receiver spends per object in a first
// sync: keep its op loop on plain locals, with no closure or object made per op.
import { startsWith } from '../../bytes.ts'
import * as A from '@automerge/automerge'
import type { FieldValue, ObjectType } from '../../model/index.ts'
import {
  readCanonicalChange,
  readChangeColumns,
  type ChangeColumns,
  type ColumnOp,
} from '../change-reader.ts'
import { oversizedColumns } from '../change-reader/row-count.ts'
import {
  FIELDS_COUNTER,
  FIRST_CONTENT_OP,
  GENESIS_ACTOR,
  META_COUNTER,
  genesis,
  type FacetContent,
  type Genesis,
  type WriteStamp,
} from './layout.ts'
import { parseStamp } from './stamps.ts'

/** The content of a facet read from its bytes without loading it (see readEncodedFacet). */
export interface EncodedFacet extends FacetContent {
  type: ObjectType
  heads: string[]
}

const OBJECT_TYPE_NAMES: readonly ObjectType[] = ['person', 'organization', 'transaction', 'file']

// Automerge chunk header: 4 magic bytes, 4 checksum bytes, 1 type byte (1 = change), then
// the body length as unsigned LEB128.
const CHUNK_MAGIC = [0x85, 0x6f, 0x4a, 0x83]
const CHANGE_CHUNK = 1

/**
 * Reads a facet stored as encodeNewFacet writes it — the genesis change of a type, then
 * one change that sets fields — by decoding that one change instead of loading a
 * document: ≈ 70 µs against ≈ 250 µs, which is most of what a first sync costs the
 * receiver. Returns undefined for any other form (the caller then loads the document);
 * throws when the bytes have this form but the change does not decode.
 */
export function readEncodedFacet(
  bytes: Uint8Array,
  /** Bytes stored already: read as they are, without checking they are in Automerge's form. */
  stored = false,
): EncodedFacet | undefined {
  const found = genesisPrefix(bytes)
  if (found === undefined) return undefined
  const rest = bytes.subarray(found.prefix.change.length)
  if (!singleChangeChunk(rest)) return undefined
  return readCreatedChange(rest, found, undefined, stored)
}

/** The type whose genesis change `bytes` start with (and more bytes after it). */
export function genesisPrefix(
  bytes: Uint8Array,
): { type: ObjectType; prefix: Genesis } | undefined {
  for (const type of OBJECT_TYPE_NAMES) {
    const prefix = genesis(type)
    if (bytes.length > prefix.change.length && startsWith(bytes, prefix.change)) {
      return { type, prefix }
    }
  }
  return undefined
}

/**
 * The content of `change` (one change chunk), the one after the genesis `found`, or
 * undefined when it is not in the created form; with `ops`, which op holds each key.
 */
export function readCreatedChange(
  change: Uint8Array,
  found: { type: ObjectType; prefix: Genesis },
  ops?: CreatedOps,
  /** Bytes stored already: read as they are (only what is to be stored is checked). */
  stored = false,
): EncodedFacet | undefined {
  // Only what the narrow reader takes goes the fast way; anything else (including forms
  // Automerge decodes but would not load back once saved) takes the document path.
  // Automerge's decoder still runs on it, so that bytes that don't decode are refused.
  const columns = stored ? readChangeColumns(change) : readCanonicalChange(change)
  if (columns === undefined) {
    // Bytes that claim more ops than anyone writes are refused before Automerge builds them.
    const oversized = oversizedColumns(change)
    if (oversized !== undefined) throw new RangeError(`the change was refused: ${oversized}`)
    A.decodeChange(change)
    return undefined
  }
  if (!followsGenesis(columns, found.prefix)) return undefined
  return readCreatedOps(columns, found.type, ops)
}

/** The counter of the op that holds each key of `fields` and of `meta` (author's ops). */
export interface CreatedOps {
  fields: Map<string, number>
  meta: Map<string, number>
  /** Set by the read: the change's author and its last op's counter. */
  actor?: string
  lastOp?: number
}

/** True when `change` is the first change after `prefix`, by an actor of its own. */
function followsGenesis(change: ChangeColumns, prefix: Genesis): boolean {
  return (
    change.seq === 1 &&
    change.startOp === FIRST_CONTENT_OP &&
    change.deps.length === 1 &&
    change.deps[0] === prefix.hash &&
    // The genesis actor writes only the genesis: a second change as it can't load.
    change.actors[0] !== GENESIS_ACTOR
  )
}

/**
 * The fields and stamps a created change writes, or undefined when an op leaves that
 * form. One loop over plain locals: this runs for every op of a first sync.
 */
function readCreatedOps(
  change: ChangeColumns,
  type: ObjectType,
  created?: CreatedOps,
): EncodedFacet | undefined {
  const { actors } = change
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
  const maps = new Map<number, CreatedMap>()
  let counter = FIRST_CONTENT_OP
  for (const op of change.ops) {
    const opCounter = counter++
    // A created facet overwrites and deletes nothing: an op with predecessors (which the
    // reader gives for edits) or a delete leaves this form.
    if (op.pred !== undefined || op.action === 'del') return undefined
    const onGenesis = op.objActor >= 0 && isGenesis[op.objActor]!
    const onOwn = op.objActor >= 0 && isOwn[op.objActor]!
    const map = onOwn ? maps.get(op.objCtr) : undefined
    const list = onOwn ? lists.get(op.objCtr) : undefined
    const key = op.key
    // Set on a plain object it would be its prototype, not a field: left to the document
    // path, whose check refuses it.
    if (key === '__proto__') return undefined
    if (key !== undefined) {
      const keys =
        onGenesis && op.objCtr === FIELDS_COUNTER
          ? fieldKeys
          : onGenesis && op.objCtr === META_COUNTER
            ? metaKeys
            : map?.keys
      if (keys !== undefined && !claim(keys, key)) return undefined
    }
    if (onGenesis && op.objCtr === FIELDS_COUNTER && key !== undefined && !op.insert) {
      created?.fields.set(key, opCounter)
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
      const stamp = typeof op.value === 'string' ? parseStamp(op.value) : undefined
      if (stamp === undefined) return undefined
      meta[key] = stamp
      created?.meta.set(key, opCounter)
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
  if (created !== undefined) Object.assign(created, { actor: actors[0]!, lastOp: counter - 1 })
  for (const list of lists.values()) fields[list.key] = list.items
  for (const map of maps.values()) fields[map.key] = map.entries
  return { type, fields, meta, deleted: false, heads: [change.hash] }
}

interface CreatedMap {
  key: string
  entries: Record<string, string>
  keys: Set<string>
}

/** Adds `key` to `keys`; false when it was there (a key written twice). */
function claim(keys: Set<string>, key: string): boolean {
  if (keys.has(key)) return false
  keys.add(key)
  return true
}

function singleChangeChunk(bytes: Uint8Array): boolean {
  return changeChunkEnd(bytes, 0) === bytes.length
}

/**
 * Where the change chunk that starts at `offset` ends, by its header (magic, checksum,
 * type, body length); undefined when no change chunk starts there or it runs past the end.
 */
export function changeChunkEnd(bytes: Uint8Array, offset: number): number | undefined {
  if (
    bytes.length < offset + 10 ||
    CHUNK_MAGIC.some((byte, i) => bytes[offset + i] !== byte) ||
    bytes[offset + 8] !== CHANGE_CHUNK
  ) {
    return undefined
  }
  let length = 0
  let at = offset + 9
  for (let shift = 0; shift < 35; shift += 7) {
    const byte = bytes[at++]
    if (byte === undefined) return undefined
    length += (byte & 0x7f) * 2 ** shift
    if ((byte & 0x80) === 0) return at + length <= bytes.length ? at + length : undefined
  }
  return undefined
}

// Only the scalars encodeNewFacet writes: strings and booleans untyped, integers as int.
// Anything else (a timestamp, a counter, bytes) reads differently from a loaded document.
export function isPlainScalar(op: Pick<ColumnOp, 'value' | 'datatype'>): boolean {
  if (typeof op.value === 'number') return op.datatype === 'int' && Number.isSafeInteger(op.value)
  return (
    op.datatype === undefined && (typeof op.value === 'string' || typeof op.value === 'boolean')
  )
}
