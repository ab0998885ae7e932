// New facets encoded and signed many at once: most of what creating a page of objects
// costs (a local table taken in at first start). Each is the genesis of its type, then
// the change that writes its fields, signed with this instance's identity key, 64 changes
// to a signature (store/authorship.ts). Run on the store's worker thread for a large page
// (store-worker.ts), here otherwise; the bytes are the same either way.
import type { ChangeSigner, IdentityKey } from '../authorship.ts'
import { encodeNewFacet, type WriteStamp } from '../facet-doc.ts'
import { genesisPrefix } from '../facet-doc/read-created.ts'
import type { FacetId, FieldValue, ObjectType } from '../../model/index.ts'
import { concatBytes } from './facet-parts.ts'

/** One facet to make. */
export interface NewFacet {
  facet: FacetId
  type: ObjectType
  fields: Record<string, FieldValue>
  stamp: WriteStamp
}

/** A page of new facets to encode, as the worker is sent it. */
export interface EncodeRequest {
  kind: 'encode'
  id: number
  facets: NewFacet[]
  /** This store session's Automerge actor. */
  actor: string
  /** The key changes are signed with; absent: unsigned. */
  key: IdentityKey | undefined
}

/** The facets' bytes end to end (transferred), or why they could not be made. */
export type EncodeReply =
  { id: number; bytes: Uint8Array<ArrayBuffer>; ends: number[] } | { id: number; error: string }

/** The facets' bytes, in order. Throws as encodeNewFacet does on a facet it can't write. */
export function encodeNewFacets(
  facets: readonly NewFacet[],
  actor: string,
  signer: ChangeSigner | undefined,
): Uint8Array[] {
  const encoded = facets.map(({ type, fields, stamp }) =>
    encodeNewFacet(type, fields, stamp, actor),
  )
  if (signer === undefined) return encoded
  const cuts = encoded.map((bytes, index) => genesisEnd(facets[index]!.facet, bytes))
  const signed = signer.signAll(
    encoded.map((bytes, index) => ({
      facet: facets[index]!.facet,
      change: bytes.subarray(cuts[index]),
    })),
  )
  return encoded.map((bytes, index) =>
    concatBytes([bytes.subarray(0, cuts[index]), signed[index]!]),
  )
}

/** Where a new facet's genesis ends: the change after it is the one signed. */
export function genesisEnd(facet: FacetId, bytes: Uint8Array): number {
  const at = genesisPrefix(bytes)?.prefix.change.length
  if (at === undefined) throw new TypeError(`the new facet ${facet} has no genesis to sign after`)
  return at
}

/** Many byte arrays as one buffer and where each ends: one transfer between threads. */
export function packBytes(list: readonly Uint8Array[]): {
  bytes: Uint8Array<ArrayBuffer>
  ends: number[]
} {
  let total = 0
  for (const bytes of list) total += bytes.length
  const packed = new Uint8Array(total)
  const ends: number[] = []
  let at = 0
  for (const bytes of list) {
    packed.set(bytes, at)
    at += bytes.length
    ends.push(at)
  }
  return { bytes: packed, ends }
}

/** The byte arrays packBytes packed (views of one buffer). */
export function unpackBytes(bytes: Uint8Array, ends: readonly number[]): Uint8Array[] {
  let start = 0
  return ends.map((end) => {
    const each = bytes.subarray(start, end)
    start = end
    return each
  })
}
