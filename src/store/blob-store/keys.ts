// The blob store's keys, beside the documents in the same ordered key space:
//
//   b/b/<sha256>            manifest of a complete, verified blob (CBOR)
//   b/p/<sha256>            manifest of a blob being received: which chunks to expect
//   b/c/<store id>/<index>  the chunks, under an id of the copy they belong to
//   b/w/<sha256>            content a file object here names and this instance lacks:
//                           the object's id, UTF-8 (what to ask peers for, across restarts)
//   b/r/<peer>/<sha256>     a blob being received from that peer: what it counts against
//                           the peer's budget and since when (CBOR), beside its b/p/
//
// Chunks sit under a store id rather than the blob's hash because a blob written as a
// stream has no name until its last byte.
import { randomBytes } from 'node:crypto'
import { prefixEnd, type RangeOptions } from '../storage.ts'

export const BLOB_PREFIX = 'b/b/'
export const PARTIAL_PREFIX = 'b/p/'
export const CHUNK_PREFIX = 'b/c/'
export const WANT_PREFIX = 'b/w/'
export const RECEIVING_PREFIX = 'b/r/'
// 8 digits keep numeric and key order equal up to 10^8 chunks: far past any maxBytes.
const INDEX_DIGITS = 8

export function blobKey(sha: string): string {
  return BLOB_PREFIX + sha
}

export function partialKey(sha: string): string {
  return PARTIAL_PREFIX + sha
}

/** Every blob being received from `peer` sits under this prefix. */
export function receivingPrefix(peer: string): string {
  return `${RECEIVING_PREFIX}${peer}/`
}

export function receivingKey(peer: string, sha: string): string {
  return receivingPrefix(peer) + sha
}

export function wantKey(sha: string): string {
  return WANT_PREFIX + sha
}

/** Every chunk of one copy sits under this prefix. */
export function chunkPrefix(id: string): string {
  return `${CHUNK_PREFIX}${id}/`
}

export function chunkKey(id: string, index: number): string {
  return chunkPrefix(id) + String(index).padStart(INDEX_DIGITS, '0')
}

/** The sha256 in a b/b/, b/p/ or b/w/ key, given that key's prefix. */
export function shaOfKey(prefix: string, key: string): string {
  return key.slice(prefix.length)
}

/** The store id in a chunk key. */
export function storeIdOfChunkKey(key: string): string {
  return key.slice(CHUNK_PREFIX.length, key.lastIndexOf('/'))
}

/** The range of every key under `prefix`. */
export function under(prefix: string): RangeOptions {
  return { gte: prefix, lt: prefixEnd(prefix) }
}

/** A fresh id for one copy of a blob's chunks. */
export function newStoreId(): string {
  return randomBytes(12).toString('hex')
}
