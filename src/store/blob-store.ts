// File contents (a résumé, an attachment) as blobs named by their sha256, beside the
// documents in the same ordered key space. A `file` object holds only the metadata and
// the sha256; the bytes live here, so a document's history never keeps old versions.
//
//   b/b/<sha256>            manifest of a complete, verified blob (CBOR)
//   b/p/<sha256>            manifest of a blob being received: which chunks to expect
//   b/c/<store id>/<index>  the chunks, under an id of the copy they belong to
//   b/w/<sha256>            content a file object here names and this instance lacks:
//                           the object's id (what to ask peers for, across restarts)
//
// A blob is visible (has, read, the b/b/ key) only once every chunk is stored and the
// whole content hashed to its name. Chunks sit under a store id rather than the blob's
// hash because a blob written as a stream has no name until its last byte; finishing it
// writes only the manifest. Whatever a crash or an abort leaves under an id no manifest
// names is removed by the next collect(). Equal content is kept once: a second copy of
// a blob already held is dropped when it completes.
import { silentLogger, type Logger } from '../log.ts'
import { TypedEvents, type EventMap, type Listener } from '../typed-events.ts'
import { createHash, randomBytes } from 'node:crypto'
import { decode, encode } from 'cborg'
import { takeBytes } from '../bytes.ts'
import { ObjectSyncError } from '../errors.ts'
import { prefixEnd, type StorageAdapter, type StorageOp } from './storage.ts'

export const DEFAULT_CHUNK_BYTES = 256 * 1024
export const DEFAULT_MAX_BLOB_BYTES = 50 * 1024 * 1024

const BLOB_PREFIX = 'b/b/'
const PARTIAL_PREFIX = 'b/p/'
const CHUNK_PREFIX = 'b/c/'
const WANT_PREFIX = 'b/w/'
const INDEX_DIGITS = 8
const SHA256 = /^[0-9a-f]{64}$/
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** What a peer needs to fetch a blob chunk by chunk and check each chunk as it comes. */
export interface BlobManifest {
  sha256: string
  size: number
  chunkBytes: number
  /** sha256 of each chunk, in order. */
  chunks: string[]
}

interface StoredManifest extends BlobManifest {
  /** Where the chunks are: b/c/<id>/. */
  id: string
  /** When the blob became visible here (ms); absent in an incoming manifest. */
  at?: number
}

export interface BlobStoreOptions {
  /** Largest blob taken, from a local system or a peer (default 50 MiB). */
  maxBytes?: number
  chunkBytes?: number
  logger?: Logger
}

export interface BlobStoreEvents extends EventMap {
  /** A blob became visible here, whole and verified. */
  published: [sha256: string]
}

export type ChunkResult = 'stored' | 'held' | 'mismatch'

export function isSha256(value: unknown): value is string {
  return typeof value === 'string' && SHA256.test(value)
}

export class BlobStore {
  readonly maxBytes: number
  readonly chunkBytes: number
  private readonly events: TypedEvents<BlobStoreEvents>
  /** Store ids being written now; collect() waits for none to be, and writers for it. */
  private readonly writing = new Map<string, number>()
  private collecting: Promise<void> | undefined
  private writersDone: (() => void) | undefined

  constructor(
    private readonly storage: StorageAdapter,
    options: BlobStoreOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BLOB_BYTES
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES
    this.events = new TypedEvents((options.logger ?? silentLogger).child('blobs'))
  }

  // ── writing a blob held here ──────────────────────────────────────────────────────

  /** Stores `bytes` (at most maxBytes) and returns its manifest. */
  async put(bytes: Uint8Array): Promise<BlobManifest> {
    if (bytes.length > this.maxBytes) throw tooLarge(bytes.length, this.maxBytes)
    // Content held already (a row read again, a file added twice) is not written again.
    const held = await this.stored(sha256(bytes))
    if (held === undefined) return this.putStream([bytes])
    let still: StoredManifest | undefined
    const done = await this.enter(held.id)
    try {
      // Read again: a collect() that ran meanwhile may have removed it.
      still = await this.stored(held.sha256)
      // Added again: it counts as new for collect()'s grace period.
      if (still !== undefined) {
        await this.storage.write([
          {
            type: 'put',
            key: BLOB_PREFIX + still.sha256,
            value: encode({ ...still, at: Date.now() }),
          },
        ])
      }
    } finally {
      done() // before putStream, which enters on its own
    }
    return still === undefined ? this.putStream([bytes]) : publicManifest(still)
  }

  /**
   * Stores what `source` yields, chunk by chunk, and returns the manifest. Over maxBytes
   * (or if `source` throws) it stops, removes what it wrote and throws: nothing partial
   * is left. `expectedSha256`, when given, must be the content's hash.
   */
  async putStream(
    source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    expectedSha256?: string,
  ): Promise<BlobManifest> {
    const id = newStoreId()
    const done = await this.enter(id)
    const whole = createHash('sha256')
    const chunks: string[] = []
    let size = 0
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    const flush = async (final: boolean) => {
      while (pendingBytes >= this.chunkBytes || (final && pendingBytes > 0)) {
        const chunk = takeBytes(pending, Math.min(this.chunkBytes, pendingBytes))
        pendingBytes -= chunk.length
        chunks.push(sha256(chunk))
        await this.storage.write([
          { type: 'put', key: chunkKey(id, chunks.length - 1), value: chunk },
        ])
      }
    }
    try {
      for await (const piece of source) {
        size += piece.length
        if (size > this.maxBytes) throw tooLarge(size, this.maxBytes)
        whole.update(piece)
        pending.push(piece)
        pendingBytes += piece.length
        await flush(false)
      }
      await flush(true)
      pending = []
      const manifest: StoredManifest = {
        sha256: whole.digest('hex'),
        size,
        chunkBytes: this.chunkBytes,
        chunks,
        id,
      }
      if (expectedSha256 !== undefined && manifest.sha256 !== expectedSha256) {
        throw new ObjectSyncError(
          'BLOB_MISMATCH',
          `the content hashes to ${manifest.sha256}, not to ${expectedSha256}`,
          { details: { sha256: expectedSha256, actual: manifest.sha256 } },
        )
      }
      await this.publish(manifest)
      return publicManifest(manifest)
    } catch (error) {
      await this.removeChunks(id)
      throw error
    } finally {
      done()
    }
  }

  /** Subscribes to the blob store's events (BlobStoreEvents); returns unsubscribe. */
  on<Name extends keyof BlobStoreEvents & string>(
    name: Name,
    listener: Listener<BlobStoreEvents[Name]>,
  ): () => void {
    return this.events.on(name, listener)
  }

  // ── reading ───────────────────────────────────────────────────────────────────────

  async has(sha: string): Promise<boolean> {
    return isSha256(sha) && (await this.storage.get(BLOB_PREFIX + sha)) !== undefined
  }

  /** The manifest of a complete blob held here. */
  async manifest(sha: string): Promise<BlobManifest | undefined> {
    const stored = await this.stored(sha)
    return stored === undefined ? undefined : publicManifest(stored)
  }

  async readChunk(sha: string, index: number): Promise<Uint8Array | undefined> {
    const stored = await this.stored(sha)
    if (stored === undefined || !Number.isInteger(index) || index < 0) return undefined
    if (index >= stored.chunks.length) return undefined
    return this.storage.get(chunkKey(stored.id, index))
  }

  /** The blob's content, chunk by chunk; throws BLOB_NOT_FOUND when it is not held here. */
  async *stream(sha: string): AsyncIterable<Uint8Array> {
    const stored = await this.stored(sha)
    if (stored === undefined) throw notFound(sha)
    for (let index = 0; index < stored.chunks.length; index++) {
      const chunk = await this.storage.get(chunkKey(stored.id, index))
      if (chunk === undefined) throw notFound(sha)
      yield chunk
    }
  }

  async read(sha: string): Promise<Uint8Array | undefined> {
    if (!(await this.has(sha))) return undefined
    const parts: Uint8Array[] = []
    for await (const chunk of this.stream(sha)) parts.push(chunk)
    return Buffer.concat(parts)
  }

  // ── receiving a blob from a peer ──────────────────────────────────────────────────

  /**
   * Starts (or resumes) receiving a blob described by a peer's manifest. Refuses a
   * manifest over maxBytes or one whose chunk list can't describe its size.
   */
  async beginIncoming(manifest: BlobManifest): Promise<void> {
    checkManifest(manifest, this.maxBytes)
    if (await this.has(manifest.sha256)) return
    const existing = await this.partial(manifest.sha256)
    if (existing !== undefined && sameChunks(existing, manifest)) return
    // A different chunking of the same content starts over: its chunks can't be reused.
    if (existing !== undefined) await this.abandonIncoming(manifest.sha256)
    const partial: StoredManifest = { ...publicManifest(manifest), id: newStoreId() }
    await this.storage.write([
      { type: 'put', key: PARTIAL_PREFIX + manifest.sha256, value: encode(partial) },
    ])
  }

  /** The manifest being received for `sha`, if any. */
  async incoming(sha: string): Promise<BlobManifest | undefined> {
    const partial = await this.partial(sha)
    return partial === undefined ? undefined : publicManifest(partial)
  }

  /** Indexes of the chunks of an incoming blob not yet stored here. */
  async missingChunks(sha: string): Promise<number[]> {
    const partial = await this.partial(sha)
    if (partial === undefined) return []
    const keys = partial.chunks.map((_, index) => chunkKey(partial.id, index))
    const found = await this.storage.getMany(keys)
    return keys.flatMap((_, index) => (found[index] === undefined ? [index] : []))
  }

  /**
   * Stores one chunk of an incoming blob after checking it against the manifest's hash
   * for it: 'mismatch' stores nothing (fetch it again), 'held' means it was already here.
   */
  async putChunk(sha: string, index: number, bytes: Uint8Array): Promise<ChunkResult> {
    const partial = await this.partial(sha)
    if (partial === undefined || !Number.isInteger(index) || index < 0) return 'mismatch'
    if (index >= partial.chunks.length) return 'mismatch'
    if (bytes.length !== expectedChunkLength(partial, index)) return 'mismatch'
    if (sha256(bytes) !== partial.chunks[index]) return 'mismatch'
    const key = chunkKey(partial.id, index)
    if ((await this.storage.get(key)) !== undefined) return 'held'
    const done = await this.enter(partial.id)
    try {
      // The partial may have been dropped while this waited: then store nothing.
      if ((await this.partial(sha))?.id !== partial.id) return 'mismatch'
      await this.storage.write([{ type: 'put', key, value: bytes }])
    } finally {
      done()
    }
    return 'stored'
  }

  /**
   * Finishes an incoming blob once every chunk is here: hashes the whole content and
   * makes the blob visible. 'mismatch' (the chunks were each right but the whole is not
   * the named content: the manifest lied) drops everything received for it.
   */
  async completeIncoming(sha: string): Promise<'complete' | 'missing' | 'mismatch'> {
    if (await this.has(sha)) {
      await this.abandonIncoming(sha) // held meanwhile (added here, or from another peer)
      return 'complete'
    }
    const partial = await this.partial(sha)
    if (partial === undefined) return 'missing'
    const done = await this.enter(partial.id)
    try {
      if ((await this.partial(sha))?.id !== partial.id) return 'missing'
      return await this.finishIncoming(sha, partial)
    } finally {
      done()
    }
  }

  private async finishIncoming(
    sha: string,
    partial: StoredManifest,
  ): Promise<'complete' | 'missing' | 'mismatch'> {
    if ((await this.missingChunks(sha)).length > 0) return 'missing'
    const whole = createHash('sha256')
    for (let index = 0; index < partial.chunks.length; index++) {
      whole.update((await this.storage.get(chunkKey(partial.id, index)))!)
    }
    if (whole.digest('hex') !== sha) {
      await this.abandonIncoming(sha)
      return 'mismatch'
    }
    await this.publish(partial, [{ type: 'del', key: PARTIAL_PREFIX + sha }])
    return 'complete'
  }

  /** Drops an incoming blob and whatever of it was received. */
  async abandonIncoming(sha: string): Promise<void> {
    const partial = await this.partial(sha)
    if (partial === undefined) return
    await this.storage.write([{ type: 'del', key: PARTIAL_PREFIX + sha }])
    await this.removeChunks(partial.id)
  }

  // ── what to fetch ───────────────────────────────────────────────────────────────

  /** Notes that `object` names content not held here, to be fetched from a peer. */
  async want(sha: string, object: string): Promise<void> {
    if (!isSha256(sha)) return
    await this.storage.write([
      { type: 'put', key: WANT_PREFIX + sha, value: encoder.encode(object) },
    ])
  }

  async unwant(sha: string): Promise<void> {
    await this.storage.write([{ type: 'del', key: WANT_PREFIX + sha }])
  }

  /** Content wanted from peers: sha256 → the file object that names it. */
  async wanted(): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for await (const [key, value] of this.storage.range({
      gte: WANT_PREFIX,
      lt: prefixEnd(WANT_PREFIX),
    })) {
      out.set(key.slice(WANT_PREFIX.length), decoder.decode(value))
    }
    return out
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
  ): Promise<{ blobs: string[]; chunks: number }> {
    return this.exclusive(() => this.collectNow(keep, keepSince))
  }

  private async collectNow(
    keep: ReadonlySet<string>,
    keepSince: number,
  ): Promise<{ blobs: string[]; chunks: number }> {
    const removed: string[] = []
    const live = new Set<string>()
    for await (const [key, value] of this.storage.range({
      gte: BLOB_PREFIX,
      lt: prefixEnd(BLOB_PREFIX),
    })) {
      const sha = key.slice(BLOB_PREFIX.length)
      const manifest = decodeManifest(value)
      if (keep.has(sha) || (manifest.at ?? 0) >= keepSince) live.add(manifest.id)
      else removed.push(sha)
    }
    // Content being received (or wanted) that no file names any more goes too.
    const dropped: StorageOp[] = []
    for await (const [key, value] of this.storage.range({
      gte: PARTIAL_PREFIX,
      lt: prefixEnd(PARTIAL_PREFIX),
    })) {
      if (keep.has(key.slice(PARTIAL_PREFIX.length))) live.add(decodeManifest(value).id)
      else dropped.push({ type: 'del', key })
    }
    for await (const [key] of this.storage.range({
      gte: WANT_PREFIX,
      lt: prefixEnd(WANT_PREFIX),
    })) {
      if (!keep.has(key.slice(WANT_PREFIX.length))) dropped.push({ type: 'del', key })
    }
    if (dropped.length > 0) await this.storage.write(dropped)
    if (removed.length > 0) {
      await this.storage.write(removed.map((sha) => ({ type: 'del', key: BLOB_PREFIX + sha })))
    }
    let chunks = 0
    let batch: StorageOp[] = []
    for await (const [key] of this.storage.range({
      gte: CHUNK_PREFIX,
      lt: prefixEnd(CHUNK_PREFIX),
    })) {
      const id = key.slice(CHUNK_PREFIX.length, key.lastIndexOf('/'))
      if (live.has(id)) continue
      batch.push({ type: 'del', key })
      chunks++
      if (batch.length >= 256) {
        await this.storage.write(batch)
        batch = []
      }
    }
    if (batch.length > 0) await this.storage.write(batch)
    return { blobs: removed, chunks }
  }

  // ── internals ─────────────────────────────────────────────────────────────────────

  /**
   * Marks a store id as being written until the returned function is called, once no
   * collect() runs: a collection never sees a blob half written.
   */
  private async enter(id: string): Promise<() => void> {
    while (this.collecting !== undefined) await this.collecting
    this.writing.set(id, (this.writing.get(id) ?? 0) + 1)
    return () => {
      const left = (this.writing.get(id) ?? 1) - 1
      if (left > 0) this.writing.set(id, left)
      else {
        this.writing.delete(id)
        if (this.writing.size === 0) this.writersDone?.()
      }
    }
  }

  /** Runs `task` with no writer in progress and none starting. */
  private async exclusive<T>(task: () => Promise<T>): Promise<T> {
    while (this.collecting !== undefined) await this.collecting
    let release = () => {}
    this.collecting = new Promise((resolve) => (release = resolve))
    try {
      while (this.writing.size > 0) {
        await new Promise<void>((resolve) => (this.writersDone = resolve))
      }
      return await task()
    } finally {
      this.writersDone = undefined
      this.collecting = undefined
      release()
    }
  }

  /** Makes a blob visible, or, if an equal one already is, drops this copy's chunks. */
  private async publish(manifest: StoredManifest, also: StorageOp[] = []): Promise<void> {
    const existing = await this.stored(manifest.sha256)
    if (existing !== undefined) {
      if (also.length > 0) await this.storage.write(also)
      if (existing.id !== manifest.id) await this.removeChunks(manifest.id)
      return
    }
    await this.storage.write([
      ...also,
      {
        type: 'put',
        key: BLOB_PREFIX + manifest.sha256,
        value: encode({ ...manifest, at: Date.now() }),
      },
    ])
    this.events.emit('published', manifest.sha256)
  }

  private async stored(sha: string): Promise<StoredManifest | undefined> {
    if (!isSha256(sha)) return undefined
    const value = await this.storage.get(BLOB_PREFIX + sha)
    return value === undefined ? undefined : decodeManifest(value)
  }

  private async partial(sha: string): Promise<StoredManifest | undefined> {
    if (!isSha256(sha)) return undefined
    const value = await this.storage.get(PARTIAL_PREFIX + sha)
    return value === undefined ? undefined : decodeManifest(value)
  }

  private async removeChunks(id: string): Promise<void> {
    const prefix = `${CHUNK_PREFIX}${id}/`
    let batch: StorageOp[] = []
    for await (const [key] of this.storage.range({ gte: prefix, lt: prefixEnd(prefix) })) {
      batch.push({ type: 'del', key })
      if (batch.length >= 256) {
        await this.storage.write(batch)
        batch = []
      }
    }
    if (batch.length > 0) await this.storage.write(batch)
  }
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
    manifest.chunkBytes < 1024 ||
    manifest.chunkBytes > 4 * 1024 * 1024
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

function expectedChunkLength(manifest: BlobManifest, index: number): number {
  const last = manifest.chunks.length - 1
  return index < last ? manifest.chunkBytes : manifest.size - last * manifest.chunkBytes
}

function sameChunks(a: BlobManifest, b: BlobManifest): boolean {
  return (
    a.size === b.size &&
    a.chunkBytes === b.chunkBytes &&
    a.chunks.length === b.chunks.length &&
    a.chunks.every((chunk, index) => chunk === b.chunks[index])
  )
}

function publicManifest({ sha256, size, chunkBytes, chunks }: BlobManifest): BlobManifest {
  return { sha256, size, chunkBytes, chunks: [...chunks] }
}

function decodeManifest(value: Uint8Array): StoredManifest {
  return decode(value) as StoredManifest
}

function chunkKey(id: string, index: number): string {
  return `${CHUNK_PREFIX}${id}/${String(index).padStart(INDEX_DIGITS, '0')}`
}

function newStoreId(): string {
  return randomBytes(12).toString('hex')
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function tooLarge(size: number, maxBytes: number, sha?: string): ObjectSyncError {
  const what = sha === undefined ? 'the file' : `blob ${sha}`
  return new ObjectSyncError(
    'BLOB_TOO_LARGE',
    `${what} is larger than the limit of ${maxBytes} bytes (files.maxBytes)`,
    { details: { maxBytes, size, ...(sha === undefined ? {} : { sha256: sha }) } },
  )
}

function notFound(sha: string): ObjectSyncError {
  return new ObjectSyncError('BLOB_NOT_FOUND', `no blob ${sha} is held here`, {
    details: { sha256: sha },
  })
}
