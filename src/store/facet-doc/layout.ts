// The shape of a facet document and the genesis every facet of a type grows from: the
// types the other facet-doc modules share, and the ids of the root maps they write into.
import * as A from '@automerge/automerge'
import type { FieldValue, InstanceId } from '../../model/index.ts'

export type StoredScalar = A.ImmutableString | boolean | number
export type StoredValue = StoredScalar | StoredScalar[] | { [key: string]: StoredScalar }

export type FacetDoc = {
  type: A.ImmutableString
  fields: Record<string, StoredValue>
  meta: Record<string, A.ImmutableString>
  deleted?: boolean
  /**
   * Core facet only: the object is one with this (smaller) object id — a merge, decided
   * on some instance and replicated with the document. Concurrent merges of the same
   * object into different objects stay as Automerge conflicts of this key, and all count.
   */
  mergedInto?: A.ImmutableString
  /** Who decided the merge, and when: an "at by" stamp. */
  mergedBy?: A.ImmutableString
  /** After an unmerge: the object this one was merged into, which matching leaves apart. */
  keptApart?: A.ImmutableString
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
  /** The objects this one was merged into (sorted; more than one after concurrent merges). */
  mergedInto?: string[]
  mergedBy?: WriteStamp
  keptApart?: string
}

/** The field name under which a tombstone's stamp is kept in `meta`. */
export const DELETED_META = 'deleted'

// Every facet of a type grows from the same genesis change: a fixed actor, time 0 and
// the same content, so its hash is equal on every instance. Two instances that create
// the same facet concurrently (say, both add the first field of a custom group) then
// share the root `fields` and `meta` maps, and their fields merge key by key instead of
// one whole map hiding the other.
export const GENESIS_ACTOR = '0000000000000000'
// The genesis makes three ops: `type` (1), the `fields` map (2) and the `meta` map (3).
export const FIELDS_OBJECT = `2@${GENESIS_ACTOR}`
export const META_OBJECT = `3@${GENESIS_ACTOR}`
// The counters of those two ops of the genesis change.
export const FIELDS_COUNTER = 2
export const META_COUNTER = 3
export const FIRST_CONTENT_OP = 4

export interface Genesis {
  change: Uint8Array
  hash: string
}
const genesisByType = new Map<string, Genesis>()

/** The genesis change of `type` and its hash, made once per type and process. */
export function genesis(type: string): Genesis {
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

/** The document's `type`, if it is the immutable string a genesis writes. */
export function readType(doc: Doc): string | undefined {
  const type = doc.type as unknown
  return type instanceof A.ImmutableString ? type.val : undefined
}
