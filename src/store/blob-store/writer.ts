// Writing a blob held here, from a local system: whole bytes or a stream, cut into
// chunks under a fresh store id and made visible once hashed. Nothing partial is left
// when it fails.
import { createHash } from 'node:crypto'
import { takeBytes } from '../../bytes.ts'
import { ObjectSyncError } from '../../errors.ts'
import type { BlobStoreComponents } from './components.ts'
import { chunkKey, newStoreId } from './keys.ts'
import {
  publicManifest,
  sha256,
  tooLarge,
  type BlobManifest,
  type StoredManifest,
} from './manifest.ts'

export class BlobWriter {
  constructor(private readonly components: BlobStoreComponents) {}

  async put(bytes: Uint8Array): Promise<BlobManifest> {
    const { blobs, gate, maxBytes } = this.components
    if (bytes.length > maxBytes) throw tooLarge(bytes.length, maxBytes)
    // Content held already (a row read again, a file added twice) is not written again.
    const held = await blobs.complete(sha256(bytes))
    if (held === undefined) return this.putStream([bytes])
    let still: StoredManifest | undefined
    const done = await gate.enter(held.id)
    try {
      // Read again: a collect() that ran meanwhile may have removed it.
      still = await blobs.complete(held.sha256)
      // Added again: it counts as new for collect()'s grace period.
      if (still !== undefined) await blobs.touch(still)
    } finally {
      done() // before putStream, which enters on its own
    }
    return still === undefined ? this.putStream([bytes]) : publicManifest(still)
  }

  async putStream(
    source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    expectedSha256?: string,
  ): Promise<BlobManifest> {
    const { storage, blobs, gate, maxBytes, chunkBytes } = this.components
    const id = newStoreId()
    const done = await gate.enter(id)
    const whole = createHash('sha256')
    const chunks: string[] = []
    let size = 0
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    const flush = async (final: boolean) => {
      while (pendingBytes >= chunkBytes || (final && pendingBytes > 0)) {
        const chunk = takeBytes(pending, Math.min(chunkBytes, pendingBytes))
        pendingBytes -= chunk.length
        chunks.push(sha256(chunk))
        await storage.write([{ type: 'put', key: chunkKey(id, chunks.length - 1), value: chunk }])
      }
    }
    try {
      for await (const piece of source) {
        size += piece.length
        if (size > maxBytes) throw tooLarge(size, maxBytes)
        whole.update(piece)
        pending.push(piece)
        pendingBytes += piece.length
        await flush(false)
      }
      await flush(true)
      pending = []
      const manifest: StoredManifest = { sha256: whole.digest('hex'), size, chunkBytes, chunks, id }
      if (expectedSha256 !== undefined && manifest.sha256 !== expectedSha256) {
        throw new ObjectSyncError(
          'BLOB_MISMATCH',
          `the content hashes to ${manifest.sha256}, not to ${expectedSha256}`,
          { details: { sha256: expectedSha256, actual: manifest.sha256 } },
        )
      }
      await blobs.publish(manifest)
      return publicManifest(manifest)
    } catch (error) {
      await blobs.removeChunks(id)
      throw error
    } finally {
      done()
    }
  }
}
