// Collection: removes complete blobs no file names any more, incoming and wanted content
// no file names, and every chunk no manifest names (leftovers of a crash or an abort).
// Runs with no writer in progress (WriteGate.exclusive), so it never sees a blob half
// written.
import type { StorageOp } from '../storage.ts'
import type { BlobStoreComponents } from './components.ts'
import {
  BLOB_PREFIX,
  CHUNK_PREFIX,
  PARTIAL_PREFIX,
  RECEIVING_PREFIX,
  WANT_PREFIX,
  blobKey,
  shaOfKey,
  storeIdOfChunkKey,
  under,
} from './keys.ts'
import { decodeManifest } from './manifest.ts'
import { DELETE_BATCH } from './stored-blobs.ts'

export interface Collected {
  /** The complete blobs removed. */
  blobs: string[]
  /** How many chunks were removed. */
  chunks: number
}

export class BlobCollector {
  constructor(private readonly components: BlobStoreComponents) {}

  collect(keep: ReadonlySet<string>, keepSince: number): Promise<Collected> {
    return this.components.gate.exclusive(() => this.collectNow(keep, keepSince))
  }

  private async collectNow(keep: ReadonlySet<string>, keepSince: number): Promise<Collected> {
    const { storage } = this.components
    const removed: string[] = []
    // Store ids whose chunks stay: those of kept blobs and of kept incoming ones.
    const live = new Set<string>()
    for await (const [key, value] of storage.range(under(BLOB_PREFIX))) {
      const sha = shaOfKey(BLOB_PREFIX, key)
      const manifest = decodeManifest(value)
      if (keep.has(sha) || (manifest.at ?? 0) >= keepSince) live.add(manifest.id)
      else removed.push(sha)
    }
    // Content being received (or wanted) that no file names any more goes too.
    const dropped: StorageOp[] = []
    for await (const [key, value] of storage.range(under(PARTIAL_PREFIX))) {
      if (keep.has(shaOfKey(PARTIAL_PREFIX, key))) live.add(decodeManifest(value).id)
      else dropped.push({ type: 'del', key })
    }
    // With them, what they counted against their peers' budgets.
    for await (const [key] of storage.range(under(RECEIVING_PREFIX))) {
      if (!keep.has(key.slice(key.lastIndexOf('/') + 1))) dropped.push({ type: 'del', key })
    }
    for await (const [key] of storage.range(under(WANT_PREFIX))) {
      if (!keep.has(shaOfKey(WANT_PREFIX, key))) dropped.push({ type: 'del', key })
    }
    if (dropped.length > 0) await storage.write(dropped)
    if (removed.length > 0) {
      await storage.write(removed.map((sha) => ({ type: 'del', key: blobKey(sha) })))
    }
    return { blobs: removed, chunks: await this.removeChunksExcept(live) }
  }

  /** Removes every chunk whose store id is not in `live`; returns how many. */
  private async removeChunksExcept(live: ReadonlySet<string>): Promise<number> {
    const { storage } = this.components
    let chunks = 0
    let batch: StorageOp[] = []
    for await (const [key] of storage.range(under(CHUNK_PREFIX))) {
      if (live.has(storeIdOfChunkKey(key))) continue
      batch.push({ type: 'del', key })
      chunks++
      if (batch.length >= DELETE_BATCH) {
        await storage.write(batch)
        batch = []
      }
    }
    if (batch.length > 0) await storage.write(batch)
    return chunks
  }
}
