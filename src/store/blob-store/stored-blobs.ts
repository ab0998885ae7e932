// What storage holds for blobs, as the other parts of the blob store use it: the
// manifests of complete and incoming blobs, making a blob visible, and removing the
// chunks of a copy.
import type { TypedEvents } from '../../typed-events.ts'
import type { StorageAdapter, StorageOp } from '../storage.ts'
import { blobKey, chunkPrefix, partialKey, under } from './keys.ts'
import { decodeManifest, encodeManifest, isSha256, type StoredManifest } from './manifest.ts'
import type { BlobStoreEvents } from './components.ts'

// Deletes per write when removing chunks: bounds one batch's size without a write per key.
export const DELETE_BATCH = 256

export class StoredBlobs {
  constructor(
    private readonly storage: StorageAdapter,
    private readonly events: TypedEvents<BlobStoreEvents>,
  ) {}

  async has(sha: string): Promise<boolean> {
    return isSha256(sha) && (await this.storage.get(blobKey(sha))) !== undefined
  }

  /** The manifest of a complete blob held here. */
  async complete(sha: string): Promise<StoredManifest | undefined> {
    if (!isSha256(sha)) return undefined
    const value = await this.storage.get(blobKey(sha))
    return value === undefined ? undefined : decodeManifest(value)
  }

  /** The manifest of a blob being received. */
  async partial(sha: string): Promise<StoredManifest | undefined> {
    if (!isSha256(sha)) return undefined
    const value = await this.storage.get(partialKey(sha))
    return value === undefined ? undefined : decodeManifest(value)
  }

  /** Marks a complete blob as stored now: it counts as new for collect()'s grace period. */
  async touch(manifest: StoredManifest): Promise<void> {
    await this.storage.write([visibleOp(manifest)])
  }

  /**
   * Makes a blob visible (with `also` in the same write), or, if an equal one already
   * is, drops this copy's chunks.
   */
  async publish(manifest: StoredManifest, also: StorageOp[] = []): Promise<void> {
    const existing = await this.complete(manifest.sha256)
    if (existing !== undefined) {
      if (also.length > 0) await this.storage.write(also)
      if (existing.id !== manifest.id) await this.removeChunks(manifest.id)
      return
    }
    await this.storage.write([...also, visibleOp(manifest)])
    this.events.emit('published', manifest.sha256)
  }

  async removeChunks(id: string): Promise<void> {
    let batch: StorageOp[] = []
    for await (const [key] of this.storage.range(under(chunkPrefix(id)))) {
      batch.push({ type: 'del', key })
      if (batch.length >= DELETE_BATCH) {
        await this.storage.write(batch)
        batch = []
      }
    }
    if (batch.length > 0) await this.storage.write(batch)
  }
}

/** The write that makes `manifest` the visible blob, stamped with the time it became so. */
function visibleOp(manifest: StoredManifest): StorageOp {
  return {
    type: 'put',
    key: blobKey(manifest.sha256),
    value: encodeManifest({ ...manifest, at: Date.now() }),
  }
}
