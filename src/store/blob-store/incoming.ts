// Receiving a blob from a peer: its manifest first (b/p/), then chunks in any order, each
// checked against the manifest's hash for it, then the whole content hashed before it
// becomes visible. A manifest that lied about the whole drops everything received.
//
// Content is unverified until it completes, and a peer chooses what it starts: a peer
// could start many files and never finish them. So what is being received from one peer
// is bounded (receivingBytesPerPeer): each unfinished transfer counts the size its
// manifest claims, and at least RECEIVING_FLOOR_BYTES, so that their number is bounded too
// (a manifest claiming one byte must not be free). A new transfer past the budget first
// drops that peer's oldest unfinished ones not in progress, which are fetched again from
// scratch if still wanted. Other peers' transfers are untouched. Each transfer's charge
// sits in a small entry under b/r/<peer>/ beside its manifest, so the check reads only
// that peer's entries and no manifest.
import { decode, encode } from 'cborg'
import { createHash } from 'node:crypto'
import type { StorageOp } from '../storage.ts'
import type { BlobStoreComponents } from './components.ts'
import {
  chunkKey,
  newStoreId,
  partialKey,
  receivingKey,
  receivingPrefix,
  shaOfKey,
  under,
} from './keys.ts'
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

/** Who a blob is received from, and which blobs are being fetched now (not to be dropped). */
export interface IncomingSource {
  peer: string
  busy: (sha: string) => boolean
}

/** What an unfinished transfer counts against its peer's budget at least (or maxBytes). */
export const RECEIVING_FLOOR_BYTES = 1024 * 1024

/** A new transfer from a peer whose budget is taken by transfers all in progress. */
export class ReceivingBudgetError extends Error {
  override readonly name = 'ReceivingBudgetError'
}

interface Charge {
  /** Bytes counted against the peer's budget. */
  c: number
  /** When the transfer began (ms; kept increasing). */
  b: number
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
    const charge = Math.max(manifest.size, Math.min(RECEIVING_FLOOR_BYTES, maxBytes))
    const dropped = source === undefined ? [] : await this.makeRoom(source, charge)
    const begun = this.nextBegun()
    const partial: StoredManifest = {
      ...publicManifest(manifest),
      id: newStoreId(),
      ...(source === undefined ? {} : { from: source.peer, begun }),
    }
    const ops: StorageOp[] = [
      { type: 'put', key: partialKey(manifest.sha256), value: encodeManifest(partial) },
    ]
    if (source !== undefined) {
      const value: Charge = { c: charge, b: begun }
      ops.push({
        type: 'put',
        key: receivingKey(source.peer, manifest.sha256),
        value: encode(value),
      })
    }
    await storage.write(ops)
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
    await storage.write(forgetPartial(partial))
    await blobs.removeChunks(partial.id)
  }

  private nextBegun(): number {
    this.lastBegun = Math.max(Date.now(), this.lastBegun + 1)
    return this.lastBegun
  }

  /**
   * Drops the peer's oldest unfinished transfers not in progress until `charge` more fits
   * its budget; returns what it dropped. Throws ReceivingBudgetError when it can't (the
   * rest are in progress).
   */
  private async makeRoom(source: IncomingSource, charge: number): Promise<string[]> {
    const { storage, receivingBytesPerPeer: budget } = this.components
    const prefix = receivingPrefix(source.peer)
    const held: { sha: string; charge: Charge }[] = []
    for await (const [key, value] of storage.range(under(prefix))) {
      held.push({ sha: shaOfKey(prefix, key), charge: decode(value) as Charge })
    }
    let total = held.reduce((sum, entry) => sum + entry.charge.c, 0)
    held.sort((a, b) => a.charge.b - b.charge.b)
    const dropped: string[] = []
    for (const entry of held) {
      if (total + charge <= budget) break
      // Asked now, not before the loop: another session may have taken it up meanwhile.
      if (source.busy(entry.sha)) continue
      await this.abandon(entry.sha)
      // Also when its manifest was gone already: a charge must not outlive its transfer.
      await storage.write([{ type: 'del', key: receivingKey(source.peer, entry.sha) }])
      total -= entry.charge.c
      dropped.push(entry.sha)
    }
    if (total + charge > budget) {
      throw new ReceivingBudgetError(
        `content being received from ${source.peer} would pass its budget of ${budget} bytes (files.receivingBytesPerPeer); its other transfers are in progress`,
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
    await blobs.publish(partial, forgetPartial(partial))
    return 'complete'
  }
}

/** The writes that forget an incoming blob's manifest, and its charge to the peer it came from. */
function forgetPartial(partial: StoredManifest): StorageOp[] {
  const ops: StorageOp[] = [{ type: 'del', key: partialKey(partial.sha256) }]
  if (partial.from !== undefined)
    ops.push({ type: 'del', key: receivingKey(partial.from, partial.sha256) })
  return ops
}
