// Receiving a blob from a peer: its manifest first (b/p/), then chunks in any order, each
// checked against the manifest's hash for it, then the whole content hashed before it
// becomes visible. A manifest that lied about the whole drops everything received.
//
// Content is unverified until it completes, and a peer chooses what it starts: a peer
// could start many files and never finish them. So what is being received from one peer
// is bounded (receivingBytesPerPeer, counted by the sizes its manifests claim); a new
// transfer past it first drops that peer's oldest unfinished ones not in progress, which
// are fetched again from scratch if still wanted. Other peers' transfers are untouched.
import { createHash } from 'node:crypto'
import type { BlobStoreComponents } from './components.ts'
import { PARTIAL_PREFIX, chunkKey, newStoreId, partialKey, under } from './keys.ts'
import {
  checkManifest,
  encodeManifest,
  expectedChunkLength,
  publicManifest,
  sameChunks,
  decodeManifest,
  sha256,
  type BlobManifest,
  type StoredManifest,
} from './manifest.ts'

/** Who a blob is received from, and which blobs are being fetched now (not to be dropped). */
export interface IncomingSource {
  peer: string
  busy: (sha: string) => boolean
}

export type ChunkResult = 'stored' | 'held' | 'mismatch'
export type CompleteResult = 'complete' | 'missing' | 'mismatch'

export class IncomingBlobs {
  /** The last `begun` given: kept increasing so that transfers begun in one millisecond keep their order. */
  private lastBegun = 0

  constructor(private readonly components: BlobStoreComponents) {}

  /** Returns the unfinished transfers dropped to make room for this one (their sha256). */
  async begin(manifest: BlobManifest, source?: IncomingSource): Promise<string[]> {
    const { storage, blobs, maxBytes } = this.components
    checkManifest(manifest, maxBytes)
    if (await blobs.has(manifest.sha256)) return []
    const existing = await blobs.partial(manifest.sha256)
    if (existing !== undefined && sameChunks(existing, manifest)) return []
    // A different chunking of the same content starts over: its chunks can't be reused.
    if (existing !== undefined) await this.abandon(manifest.sha256)
    const dropped = source === undefined ? [] : await this.makeRoom(source, manifest.size)
    const partial: StoredManifest = {
      ...publicManifest(manifest),
      id: newStoreId(),
      ...(source === undefined ? {} : { from: source.peer, begun: this.nextBegun() }),
    }
    await storage.write([
      { type: 'put', key: partialKey(manifest.sha256), value: encodeManifest(partial) },
    ])
    return dropped
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

  private nextBegun(): number {
    this.lastBegun = Math.max(Date.now(), this.lastBegun + 1)
    return this.lastBegun
  }

  /**
   * Drops the peer's oldest unfinished transfers not in progress until `size` more fits
   * its budget; returns what it dropped. Throws when it can't (the rest are in progress).
   */
  private async makeRoom(source: IncomingSource, size: number): Promise<string[]> {
    const budget = this.components.receivingBytesPerPeer
    const fromPeer: StoredManifest[] = []
    for await (const [, value] of this.components.storage.range(under(PARTIAL_PREFIX))) {
      const partial = decodeManifest(value)
      if (partial.from === source.peer) fromPeer.push(partial)
    }
    let held = fromPeer.reduce((sum, partial) => sum + partial.size, 0)
    const droppable = fromPeer
      .filter((partial) => !source.busy(partial.sha256))
      .sort((a, b) => (a.begun ?? 0) - (b.begun ?? 0))
    const dropped: string[] = []
    for (const partial of droppable) {
      if (held + size <= budget) break
      await this.abandon(partial.sha256)
      held -= partial.size
      dropped.push(partial.sha256)
    }
    if (held + size > budget) {
      throw new Error(
        `content being received from ${source.peer} would pass its budget of ${budget} bytes (files.receivingBytesPerPeer)`,
      )
    }
    return dropped
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
