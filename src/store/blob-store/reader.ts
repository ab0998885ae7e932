// Reading blobs held here: whole, chunk by chunk, or one chunk for a peer.
import type { BlobStoreComponents } from './components.ts'
import { chunkKey } from './keys.ts'
import { notFound, publicManifest, type BlobManifest } from './manifest.ts'

export class BlobReader {
  constructor(private readonly components: BlobStoreComponents) {}

  async manifest(sha: string): Promise<BlobManifest | undefined> {
    const stored = await this.components.blobs.complete(sha)
    return stored === undefined ? undefined : publicManifest(stored)
  }

  async readChunk(sha: string, index: number): Promise<Uint8Array | undefined> {
    const { storage, blobs } = this.components
    const stored = await blobs.complete(sha)
    if (stored === undefined || !Number.isInteger(index) || index < 0) return undefined
    if (index >= stored.chunks.length) return undefined
    return storage.get(chunkKey(stored.id, index))
  }

  async *stream(sha: string): AsyncIterable<Uint8Array> {
    const { storage, blobs } = this.components
    const stored = await blobs.complete(sha)
    if (stored === undefined) throw notFound(sha)
    for (let index = 0; index < stored.chunks.length; index++) {
      const chunk = await storage.get(chunkKey(stored.id, index))
      if (chunk === undefined) throw notFound(sha)
      yield chunk
    }
  }

  async read(sha: string): Promise<Uint8Array | undefined> {
    if (!(await this.components.blobs.has(sha))) return undefined
    const parts: Uint8Array[] = []
    for await (const chunk of this.stream(sha)) parts.push(chunk)
    return Buffer.concat(parts)
  }
}
