// What a blob's manifest is — its name (sha256), size and the hash of each chunk — and
// the checks and conversions on it, with the errors the blob store raises.
import { createHash } from 'node:crypto'
import { decode, encode } from 'cborg'
import { ObjectSyncError } from '../../errors.ts'

const SHA256 = /^[0-9a-f]{64}$/

// The chunk sizes taken from a peer (4 MiB is also the largest sync frame, net/frames.ts).
const MIN_CHUNK_BYTES = 1024
const MAX_CHUNK_BYTES = 4 * 1024 * 1024

/** What a peer needs to fetch a blob chunk by chunk and check each chunk as it comes. */
export interface BlobManifest {
  sha256: string
  size: number
  chunkBytes: number
  /** sha256 of each chunk, in order. */
  chunks: string[]
}

export interface StoredManifest extends BlobManifest {
  /** Where the chunks are: b/c/<id>/. */
  id: string
  /** When the blob became visible here (ms); absent in an incoming manifest. */
  at?: number
  /** An incoming manifest: the peer it is received from, and when that began (ms). */
  from?: string
  begun?: number
}

export function isSha256(value: unknown): value is string {
  return typeof value === 'string' && SHA256.test(value)
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Checks a manifest from a peer: a sha256 name, a size within `maxBytes`, and exactly the
 * chunks that size takes at its chunk size, each named by a sha256.
 */
export function checkManifest(manifest: BlobManifest, maxBytes: number): void {
  const where = `the manifest of blob ${String(manifest.sha256).slice(0, 64)}`
  if (!isSha256(manifest.sha256)) {
    throw new ObjectSyncError('BLOB_MISMATCH', `${where}: the name is not a sha256`)
  }
  if (!Number.isSafeInteger(manifest.size) || manifest.size < 0) {
    throw new ObjectSyncError('BLOB_MISMATCH', `${where}: the size is not a byte count`)
  }
  if (manifest.size > maxBytes) throw tooLarge(manifest.size, maxBytes, manifest.sha256)
  if (
    !Number.isSafeInteger(manifest.chunkBytes) ||
    manifest.chunkBytes < MIN_CHUNK_BYTES ||
    manifest.chunkBytes > MAX_CHUNK_BYTES
  ) {
    throw new ObjectSyncError(
      'BLOB_MISMATCH',
      `${where}: chunk size ${manifest.chunkBytes} is outside 1 KiB – 4 MiB`,
    )
  }
  const expected = Math.ceil(manifest.size / manifest.chunkBytes)
  if (
    !Array.isArray(manifest.chunks) ||
    manifest.chunks.length !== expected ||
    !manifest.chunks.every(isSha256)
  ) {
    throw new ObjectSyncError(
      'BLOB_MISMATCH',
      `${where}: expected ${expected} chunk hashes for ${manifest.size} bytes`,
    )
  }
}

export function expectedChunkLength(manifest: BlobManifest, index: number): number {
  const last = manifest.chunks.length - 1
  return index < last ? manifest.chunkBytes : manifest.size - last * manifest.chunkBytes
}

export function sameChunks(a: BlobManifest, b: BlobManifest): boolean {
  return (
    a.size === b.size &&
    a.chunkBytes === b.chunkBytes &&
    a.chunks.length === b.chunks.length &&
    a.chunks.every((chunk, index) => chunk === b.chunks[index])
  )
}

/** The manifest as callers and peers see it: no store id, no time, a copy of the list. */
export function publicManifest({ sha256, size, chunkBytes, chunks }: BlobManifest): BlobManifest {
  return { sha256, size, chunkBytes, chunks: [...chunks] }
}

export function encodeManifest(manifest: StoredManifest): Uint8Array {
  return encode(manifest)
}

export function decodeManifest(value: Uint8Array): StoredManifest {
  return decode(value) as StoredManifest
}

export function tooLarge(size: number, maxBytes: number, sha?: string): ObjectSyncError {
  const what = sha === undefined ? 'the file' : `blob ${sha}`
  return new ObjectSyncError(
    'BLOB_TOO_LARGE',
    `${what} is larger than the limit of ${maxBytes} bytes (files.maxBytes)`,
    { details: { maxBytes, size, ...(sha === undefined ? {} : { sha256: sha }) } },
  )
}

export function notFound(sha: string): ObjectSyncError {
  return new ObjectSyncError('BLOB_NOT_FOUND', `no blob ${sha} is held here`, {
    details: { sha256: sha },
  })
}
