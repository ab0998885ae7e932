// Receiving a blob from a peer: its manifest first (b/p/), then chunks in any order, each
// checked against the manifest's hash for it, then the whole content hashed before it
// becomes visible. A manifest that lied about the whole drops everything received.
import { createHash } from 'node:crypto'
import type { BlobStoreComponents } from './components.ts'
import { chunkKey, newStoreId, partialKey } from './keys.ts'
import {
  checkManifest,
  encodeManifest,
  expectedChunkLength,
  publicManifest,
  sameChunks,
  sha256,
  type BlobManifest,
  type StoredManifest,
} from './manifest.ts'

export type ChunkResult = 'stored' | 'held' | 'mismatch'
export type CompleteResult = 'complete' | 'missing' | 'mismatch'

export class IncomingBlobs {
  constructor(private readonly components: BlobStoreComponents) {}

  async begin(manifest: BlobManifest): Promise<void> {
    const { storage, blobs, maxBytes } = this.components
    checkManifest(manifest, maxBytes)
    if (await blobs.has(manifest.sha256)) return
    const existing = await blobs.partial(manifest.sha256)
    if (existing !== undefined && sameChunks(existing, manifest)) return
    // A different chunking of the same content starts over: its chunks can't be reused.
    if (existing !== undefined) await this.abandon(manifest.sha256)
    const partial: StoredManifest = { ...publicManifest(manifest), id: newStoreId() }
    await storage.write([
      { type: 'put', key: partialKey(manifest.sha256), value: encodeManifest(partial) },
    ])
  }

  async manifest(sha: string): Promise<BlobManifest | undefined> {
    const partial = await this.components.blobs.partial(sha)
    return partial === undefined ? undefined : publicManifest(partial)
  }

  async missingChunks(sha: string): Promise<number[]> {
    const { storage, blobs } = this.components
    const partial = await blobs.partial(sha)
    if (partial === undefined) return []
    const keys = partial.chunks.map((_, index) => chunkKey(partial.id, index))
    const found = await storage.getMany(keys)
    return keys.flatMap((_, index) => (found[index] === undefined ? [index] : []))
  }

  async putChunk(sha: string, index: number, bytes: Uint8Array): Promise<ChunkResult> {
    const { storage, blobs, gate } = this.components
    const partial = await blobs.partial(sha)
    if (partial === undefined || !Number.isInteger(index) || index < 0) return 'mismatch'
    if (index >= partial.chunks.length) return 'mismatch'
    if (bytes.length !== expectedChunkLength(partial, index)) return 'mismatch'
    if (sha256(bytes) !== partial.chunks[index]) return 'mismatch'
    const key = chunkKey(partial.id, index)
    if ((await storage.get(key)) !== undefined) return 'held'
    const done = await gate.enter(partial.id)
    try {
      // The partial may have been dropped while this waited: then store nothing.
      if ((await blobs.partial(sha))?.id !== partial.id) return 'mismatch'
      await storage.write([{ type: 'put', key, value: bytes }])
    } finally {
      done()
    }
    return 'stored'
  }

  async complete(sha: string): Promise<CompleteResult> {
    const { blobs, gate } = this.components
    if (await blobs.has(sha)) {
      await this.abandon(sha) // held meanwhile (added here, or from another peer)
      return 'complete'
    }
    const partial = await blobs.partial(sha)
    if (partial === undefined) return 'missing'
    const done = await gate.enter(partial.id)
    try {
      if ((await blobs.partial(sha))?.id !== partial.id) return 'missing'
      return await this.finish(sha, partial)
    } finally {
      done()
    }
  }

  async abandon(sha: string): Promise<void> {
    const { storage, blobs } = this.components
    const partial = await blobs.partial(sha)
    if (partial === undefined) return
    await storage.write([{ type: 'del', key: partialKey(sha) }])
    await blobs.removeChunks(partial.id)
  }

  /** Hashes the whole received content; publishes it if it is the named blob. */
  private async finish(sha: string, partial: StoredManifest): Promise<CompleteResult> {
    const { storage, blobs } = this.components
    if ((await this.missingChunks(sha)).length > 0) return 'missing'
    const whole = createHash('sha256')
    for (let index = 0; index < partial.chunks.length; index++) {
      whole.update((await storage.get(chunkKey(partial.id, index)))!)
    }
    if (whole.digest('hex') !== sha) {
      await this.abandon(sha)
      return 'mismatch'
    }
    await blobs.publish(partial, [{ type: 'del', key: partialKey(sha) }])
    return 'complete'
  }
}
