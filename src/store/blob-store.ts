// File contents (a résumé, an attachment) as blobs named by their sha256, beside the
// documents in the same ordered key space (the keys: blob-store/keys.ts). A `file`
// object holds only the metadata and the sha256; the bytes live here, so a document's
// history never keeps old versions.
//
// A blob is visible (has, read, the b/b/ key) only once every chunk is stored and the
// whole content hashed to its name. Chunks sit under a store id rather than the blob's
// hash because a blob written as a stream has no name until its last byte; finishing it
// writes only the manifest. Whatever a crash or an abort leaves under an id no manifest
// names is removed by the next collect(). Equal content is kept once: a second copy of
// a blob already held is dropped when it completes.
//
// BlobStore is the face the store uses; its parts are in blob-store/, sharing
// BlobStoreComponents:
//   writer.ts        writing a blob held here (put, putStream)
//   reader.ts        reading a blob held here
//   incoming.ts      receiving a blob from a peer, chunk by chunk
//   wants.ts         content to fetch from peers
//   collector.ts     collect(): what no file names any more, and leftovers
//   stored-blobs.ts  manifests and chunks in storage; publishing a blob
//   write-gate.ts    keeps writers and the collector apart
//   manifest.ts      the manifest, its checks, and the blob store's errors
import { silentLogger, type Logger } from '../log.ts'
import { TypedEvents, type Listener } from '../typed-events.ts'
import { BlobCollector, type Collected } from './blob-store/collector.ts'
import type { BlobStoreComponents, BlobStoreEvents } from './blob-store/components.ts'
import {
  IncomingBlobs,
  type ChunkResult,
  type CompleteResult,
  type IncomingSource,
} from './blob-store/incoming.ts'
import type { BlobManifest } from './blob-store/manifest.ts'
import { BlobReader } from './blob-store/reader.ts'
import { StoredBlobs } from './blob-store/stored-blobs.ts'
import { WantList } from './blob-store/wants.ts'
import { WriteGate } from './blob-store/write-gate.ts'
import { BlobWriter } from './blob-store/writer.ts'
import type { StorageAdapter } from './storage.ts'

export { checkManifest, isSha256, type BlobManifest } from './blob-store/manifest.ts'
export type { BlobStoreEvents } from './blob-store/components.ts'
export {
  ReceivingBudgetError,
  type ChunkResult,
  type IncomingSource,
} from './blob-store/incoming.ts'

export const DEFAULT_CHUNK_BYTES = 256 * 1024
export const DEFAULT_MAX_BLOB_BYTES = 50 * 1024 * 1024
/** Unfinished content from one peer, in files of maxBytes, unless configured. */
export const DEFAULT_RECEIVING_FILES_PER_PEER = 4

export interface BlobStoreOptions {
  /** Largest blob taken, from a local system or a peer (default 50 MiB). */
  maxBytes?: number
  chunkBytes?: number
  /**
   * Content being received from one peer and not yet verified, at most (bytes; at least
   * maxBytes; default 4 × maxBytes). Past it the peer's oldest unfinished transfers go.
   */
  receivingBytesPerPeer?: number
  logger?: Logger
}

export class BlobStore {
  readonly maxBytes: number
  readonly chunkBytes: number
  private readonly events: TypedEvents<BlobStoreEvents>
  private readonly blobs: StoredBlobs
  private readonly writer: BlobWriter
  private readonly reader: BlobReader
  private readonly incomingBlobs: IncomingBlobs
  private readonly wants: WantList
  private readonly collector: BlobCollector

  constructor(storage: StorageAdapter, options: BlobStoreOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BLOB_BYTES
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES
    this.events = new TypedEvents((options.logger ?? silentLogger).child('blobs'))
    this.blobs = new StoredBlobs(storage, this.events)
    const components: BlobStoreComponents = {
      storage,
      blobs: this.blobs,
      gate: new WriteGate(),
      maxBytes: this.maxBytes,
      chunkBytes: this.chunkBytes,
      receivingBytesPerPeer: Math.max(
        this.maxBytes,
        options.receivingBytesPerPeer ?? DEFAULT_RECEIVING_FILES_PER_PEER * this.maxBytes,
      ),
    }
    this.writer = new BlobWriter(components)
    this.reader = new BlobReader(components)
    this.incomingBlobs = new IncomingBlobs(components)
    this.wants = new WantList(storage)
    this.collector = new BlobCollector(components)
  }

  /** Subscribes to the blob store's events (BlobStoreEvents); returns unsubscribe. */
  on<Name extends keyof BlobStoreEvents & string>(
    name: Name,
    listener: Listener<BlobStoreEvents[Name]>,
  ): () => void {
    return this.events.on(name, listener)
  }

  // ── writing a blob held here ──────────────────────────────────────────────────────

  /** Stores `bytes` (at most maxBytes) and returns its manifest. */
  put(bytes: Uint8Array): Promise<BlobManifest> {
    return this.writer.put(bytes)
  }

  /**
   * Stores what `source` yields, chunk by chunk, and returns the manifest. Over maxBytes
   * (or if `source` throws) it stops, removes what it wrote and throws: nothing partial
   * is left. `expectedSha256`, when given, must be the content's hash.
   */
  putStream(
    source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    expectedSha256?: string,
  ): Promise<BlobManifest> {
    return this.writer.putStream(source, expectedSha256)
  }

  // ── reading ───────────────────────────────────────────────────────────────────────

  has(sha: string): Promise<boolean> {
    return this.blobs.has(sha)
  }

  /** The manifest of a complete blob held here. */
  manifest(sha: string): Promise<BlobManifest | undefined> {
    return this.reader.manifest(sha)
  }

  readChunk(sha: string, index: number): Promise<Uint8Array | undefined> {
    return this.reader.readChunk(sha, index)
  }

  /** The blob's content, chunk by chunk; throws BLOB_NOT_FOUND when it is not held here. */
  stream(sha: string): AsyncIterable<Uint8Array> {
    return this.reader.stream(sha)
  }

  read(sha: string): Promise<Uint8Array | undefined> {
    return this.reader.read(sha)
  }

  // ── receiving a blob from a peer ──────────────────────────────────────────────────

  /**
   * Starts (or resumes) receiving a blob described by a peer's manifest. Refuses a
   * manifest over maxBytes or one whose chunk list can't describe its size. With
   * `source`, keeps what that peer's unfinished transfers hold within its budget,
   * dropping its oldest ones not in progress: returns their sha256.
   */
  beginIncoming(manifest: BlobManifest, source?: IncomingSource): Promise<string[]> {
    return this.incomingBlobs.begin(manifest, source)
  }

  /** The manifest being received for `sha`, if any. */
  incoming(sha: string): Promise<BlobManifest | undefined> {
    return this.incomingBlobs.manifest(sha)
  }

  /** Indexes of the chunks of an incoming blob not yet stored here. */
  missingChunks(sha: string): Promise<number[]> {
    return this.incomingBlobs.missingChunks(sha)
  }

  /**
   * Stores one chunk of an incoming blob after checking it against the manifest's hash
   * for it: 'mismatch' stores nothing (fetch it again), 'held' means it was already here.
   */
  putChunk(sha: string, index: number, bytes: Uint8Array): Promise<ChunkResult> {
    return this.incomingBlobs.putChunk(sha, index, bytes)
  }

  /**
   * Finishes an incoming blob once every chunk is here: hashes the whole content and
   * makes the blob visible. 'mismatch' (the chunks were each right but the whole is not
   * the named content: the manifest lied) drops everything received for it.
   */
  completeIncoming(sha: string): Promise<CompleteResult> {
    return this.incomingBlobs.complete(sha)
  }

  /** Drops an incoming blob and whatever of it was received. */
  abandonIncoming(sha: string): Promise<void> {
    return this.incomingBlobs.abandon(sha)
  }

  // ── what to fetch ─────────────────────────────────────────────────────────────────

  /** Notes that `object` names content not held here, to be fetched from a peer. */
  want(sha: string, object: string): Promise<void> {
    return this.wants.want(sha, object)
  }

  unwant(sha: string): Promise<void> {
    return this.wants.unwant(sha)
  }

  /** Content wanted from peers: sha256 → the file object that names it. */
  wanted(): Promise<Map<string, string>> {
    return this.wants.wanted()
  }

  // ── housekeeping ──────────────────────────────────────────────────────────────────

  /**
   * Removes every complete blob not in `keep`, and every chunk no manifest (complete or
   * incoming) names: leftovers of a crash or an abort. Returns what it removed.
   */
  collect(
    keep: ReadonlySet<string>,
    /** Blobs stored after this time (ms) are kept too: content added just before its file. */
    keepSince = Infinity,
  ): Promise<Collected> {
    return this.collector.collect(keep, keepSince)
  }
}
