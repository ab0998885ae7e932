// The blob store on LevelDB and on the in-memory storage: chunked, named by sha256,
// visible only when whole and verified, resumable, bounded, and collected.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import { BlobStore, type BlobManifest } from '../../src/store/blob-store.ts'
import { LevelStorage, MemoryStorage, type StorageAdapter } from '../../src/store/index.ts'

const CHUNK = 4096
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** A peer's blob store, to take manifests and chunks from. */
async function peerBlobs(): Promise<BlobStore> {
  const storage = new MemoryStorage()
  await storage.open()
  return new BlobStore(storage, { chunkBytes: CHUNK })
}

/** Every key of the storage, to show that nothing is left behind. */
async function keys(storage: StorageAdapter): Promise<string[]> {
  const out: string[] = []
  for await (const [key] of storage.range({})) out.push(key)
  return out
}

for (const [name, makeStorage] of [
  ['MemoryStorage', () => new MemoryStorage()],
  [
    'LevelStorage',
    () => new LevelStorage(join(mkdtempSync(join(tmpdir(), 'objectsync-blobs-')), 'store')),
  ],
] as const) {
  describe(`BlobStore on ${name}`, () => {
    let storage: StorageAdapter
    let blobs: BlobStore

    beforeEach(async () => {
      storage = makeStorage()
      await storage.open()
      blobs = new BlobStore(storage, { chunkBytes: CHUNK, maxBytes: 64 * 1024 })
    })
    afterEach(() => storage.close())

    it('stores content in chunks under its sha256 and reads it back byte for byte', async () => {
      const content = randomBytes(3 * CHUNK + 17)
      const manifest = await blobs.put(content)
      expect(manifest.sha256).toBe(sha(content))
      expect(manifest.size).toBe(content.length)
      expect(manifest.chunks).toHaveLength(4)
      expect(manifest.chunks[3]).toBe(sha(content.subarray(3 * CHUNK)))
      expect(await blobs.has(manifest.sha256)).toBe(true)
      expect(Buffer.from((await blobs.read(manifest.sha256))!).equals(content)).toBe(true)
      expect(
        Buffer.from((await blobs.readChunk(manifest.sha256, 1))!).equals(
          content.subarray(CHUNK, 2 * CHUNK),
        ),
      ).toBe(true)
      expect(await blobs.readChunk(manifest.sha256, 4)).toBeUndefined()
    })

    it('keeps equal content once', async () => {
      const content = randomBytes(2 * CHUNK)
      await blobs.put(content)
      const before = await keys(storage)
      await blobs.putStream([content.subarray(0, 100), content.subarray(100)])
      expect(await keys(storage)).toEqual(before)
    })

    it('refuses a blob over the limit and leaves nothing of it', async () => {
      const before = await keys(storage)
      const big = randomBytes(64 * 1024 + 1)
      const error = await blobs.put(big).catch((e: unknown) => e)
      expect(isObjectSyncError(error, 'BLOB_TOO_LARGE')).toBe(true)
      expect((error as Error).message).toContain('65536')
      // Streamed in pieces, so that chunks were written before the limit was passed.
      const pieces = Array.from({ length: 17 }, (_, i) => big.subarray(i * 4000, (i + 1) * 4000))
      await expect(blobs.putStream(pieces)).rejects.toMatchObject({ code: 'BLOB_TOO_LARGE' })
      expect(await keys(storage)).toEqual(before)
      expect(await blobs.has(sha(big))).toBe(false)
    })

    it('refuses content that does not hash to the sha256 it was given, keeping nothing', async () => {
      const content = randomBytes(CHUNK + 1)
      await expect(blobs.putStream([content], sha(randomBytes(8)))).rejects.toMatchObject({
        code: 'BLOB_MISMATCH',
      })
      expect(await keys(storage)).toEqual([])
    })

    it('receives a blob chunk by chunk, invisible until whole, and resumes what is missing', async () => {
      const source = await peerBlobs()
      const content = randomBytes(5 * CHUNK + 3)
      const manifest = await source.put(content)
      await blobs.beginIncoming(manifest)
      expect(await blobs.missingChunks(manifest.sha256)).toEqual([0, 1, 2, 3, 4, 5])
      for (const index of [0, 2, 5]) {
        expect(
          await blobs.putChunk(
            manifest.sha256,
            index,
            (await source.readChunk(manifest.sha256, index))!,
          ),
        ).toBe('stored')
      }
      expect(await blobs.has(manifest.sha256)).toBe(false)
      expect(await blobs.completeIncoming(manifest.sha256)).toBe('missing')
      // As after a restart: the same manifest again keeps what was received.
      await blobs.beginIncoming(manifest)
      expect(await blobs.missingChunks(manifest.sha256)).toEqual([1, 3, 4])
      for (const index of [1, 3, 4]) {
        await blobs.putChunk(
          manifest.sha256,
          index,
          (await source.readChunk(manifest.sha256, index))!,
        )
      }
      expect(await blobs.completeIncoming(manifest.sha256)).toBe('complete')
      expect(Buffer.from((await blobs.read(manifest.sha256))!).equals(content)).toBe(true)
      expect(await blobs.incoming(manifest.sha256)).toBeUndefined()
    })

    it("keeps what one peer sends unverified within its budget, dropping its oldest unfinished transfers, not another peer's", async () => {
      // maxBytes 64 KiB and a budget of 128 KiB a peer: each transfer counts at least
      // 64 KiB (RECEIVING_FLOOR_BYTES, at most maxBytes), so two are kept at once.
      const bounded = new BlobStore(storage, {
        chunkBytes: CHUNK,
        maxBytes: 64 * 1024,
        receivingBytesPerPeer: 128 * 1024,
      })
      const source = await peerBlobs()
      const files = await Promise.all(
        Array.from({ length: 4 }, () => source.put(randomBytes(6 * CHUNK))),
      )
      const [first, second, third, fourth] = files as [
        BlobManifest,
        BlobManifest,
        BlobManifest,
        BlobManifest,
      ]
      const idle = { busy: () => false }
      // Each started and one chunk received, none finished.
      const start = async (manifest: BlobManifest, peer: string, busy = idle.busy) => {
        const dropped = await bounded.beginIncoming(manifest, { peer, busy })
        await bounded.putChunk(manifest.sha256, 0, (await source.readChunk(manifest.sha256, 0))!)
        return dropped
      }
      expect(await start(first, 'hostile')).toEqual([])
      expect(await start(second, 'hostile')).toEqual([])
      expect(await start(fourth, 'honest')).toEqual([])
      expect(await start(third, 'hostile')).toEqual([first.sha256])
      expect(await bounded.incoming(first.sha256)).toBeUndefined()
      const chunkKeys = (await keys(storage)).filter((key) => key.startsWith('b/c/'))
      expect(chunkKeys).toHaveLength(3) // the first transfer's chunk went with it
      // The honest peer's transfer stays, and one in progress is never dropped.
      expect(await bounded.incoming(fourth.sha256)).toBeDefined()
      expect(
        await bounded.beginIncoming(first, {
          peer: 'hostile',
          busy: (sha) => sha === second.sha256,
        }),
      ).toEqual([third.sha256])
      expect(await bounded.incoming(second.sha256)).toBeDefined()
      // Nothing droppable left: a transfer past the budget is refused, nothing else changes.
      await expect(
        bounded.beginIncoming(third, { peer: 'hostile', busy: () => true }),
      ).rejects.toThrow(/would pass its budget of 131072 bytes \(files.receivingBytesPerPeer\)/)
      expect(await bounded.incoming(first.sha256)).toBeDefined()
      expect(await bounded.incoming(second.sha256)).toBeDefined()
      // A manifest claiming one byte is not free: it counts as much as the floor (the
      // second is the oldest now: the first began again after it).
      const tiny = await source.put(new Uint8Array([7]))
      expect(await bounded.beginIncoming(tiny, { peer: 'hostile', ...idle })).toEqual([
        second.sha256,
      ])
      // Finishing a transfer frees what it counted; collection drops the count of one no
      // file names any more (the first, unfinished, and no longer wanted).
      await bounded.putChunk(tiny.sha256, 0, new Uint8Array([7]))
      expect(await bounded.completeIncoming(tiny.sha256)).toBe('complete')
      expect((await keys(storage)).filter((key) => key.startsWith('b/r/'))).toHaveLength(2)
      await bounded.collect(new Set([fourth.sha256]), Date.now() + 1)
      expect((await keys(storage)).filter((key) => key.startsWith('b/r/'))).toEqual([
        `b/r/honest/${fourth.sha256}`,
      ])
    })

    it('refuses a corrupted chunk and stores nothing for it', async () => {
      const content = randomBytes(2 * CHUNK)
      const manifest = await (await peerBlobs()).put(content)
      await blobs.beginIncoming(manifest)
      const corrupted = Buffer.from(content.subarray(0, CHUNK)) // a copy
      corrupted[10]! ^= 1
      expect(await blobs.putChunk(manifest.sha256, 0, corrupted)).toBe('mismatch')
      expect(await blobs.putChunk(manifest.sha256, 0, content.subarray(0, CHUNK - 1))).toBe(
        'mismatch',
      )
      expect(await blobs.missingChunks(manifest.sha256)).toEqual([0, 1])
      expect(await blobs.putChunk(manifest.sha256, 0, content.subarray(0, CHUNK))).toBe('stored')
      expect(await blobs.putChunk(manifest.sha256, 0, content.subarray(0, CHUNK))).toBe('held')
    })

    it('drops a blob whose chunks match a lying manifest but whose whole does not', async () => {
      const content = randomBytes(2 * CHUNK)
      const honest = await (await peerBlobs()).put(content)
      const lying: BlobManifest = { ...honest, sha256: sha(randomBytes(4)) }
      await blobs.beginIncoming(lying)
      await blobs.putChunk(lying.sha256, 0, content.subarray(0, CHUNK))
      await blobs.putChunk(lying.sha256, 1, content.subarray(CHUNK))
      expect(await blobs.completeIncoming(lying.sha256)).toBe('mismatch')
      expect(await blobs.has(lying.sha256)).toBe(false)
      expect(await keys(storage)).toEqual([])
    })

    it('refuses malformed or oversized manifests with the reason', async () => {
      const good = await (await peerBlobs()).put(randomBytes(CHUNK + 1))
      const cases: [Partial<BlobManifest>, string, string][] = [
        [{ sha256: 'nope' }, 'BLOB_MISMATCH', 'not a sha256'],
        [{ size: -1 }, 'BLOB_MISMATCH', 'not a byte count'],
        [{ size: 1 << 30 }, 'BLOB_TOO_LARGE', 'larger than the limit'],
        [{ chunks: good.chunks.slice(1) }, 'BLOB_MISMATCH', 'expected 2 chunk hashes'],
        [{ chunkBytes: 1 }, 'BLOB_MISMATCH', 'chunk size 1'],
      ]
      for (const [change, code, text] of cases) {
        const error = await blobs.beginIncoming({ ...good, ...change }).catch((e: unknown) => e)
        expect(error).toMatchObject({ code })
        expect((error as Error).message).toContain(text)
      }
      expect(await keys(storage)).toEqual([])
    })

    it('collects blobs nothing references, and leftovers of interrupted writes', async () => {
      const kept = await blobs.put(randomBytes(CHUNK + 5))
      const dropped = await blobs.put(randomBytes(2 * CHUNK))
      const source = await peerBlobs()
      const incoming = await source.put(randomBytes(CHUNK))
      await blobs.beginIncoming(incoming)
      // Content being received that nothing names any more: dropped with what arrived.
      const abandoned = await source.put(randomBytes(2 * CHUNK))
      await blobs.beginIncoming(abandoned)
      await blobs.want(abandoned.sha256, 'some-file')
      await blobs.putChunk(abandoned.sha256, 0, (await source.readChunk(abandoned.sha256, 0))!)
      // A write cut off by a crash: chunks under an id no manifest names.
      await storage.write([
        { type: 'put', key: 'b/c/0123456789abcdef01234567/00000000', value: new Uint8Array(3) },
      ])
      const result = await blobs.collect(new Set([kept.sha256, incoming.sha256]))
      expect(result.blobs).toEqual([dropped.sha256])
      // Two of the dropped blob, one received of the abandoned one, one leftover.
      expect(result.chunks).toBe(4)
      expect(await blobs.has(dropped.sha256)).toBe(false)
      expect(await blobs.has(kept.sha256)).toBe(true)
      expect(Buffer.from((await blobs.read(kept.sha256))!)).toHaveLength(CHUNK + 5)
      expect(await blobs.incoming(incoming.sha256)).toBeDefined()
      expect(await blobs.incoming(abandoned.sha256)).toBeUndefined()
      expect(await blobs.wanted()).toEqual(new Map())
    })

    it('a collection waits for a blob being written, and never takes its chunks', async () => {
      let resume = () => {}
      const paused = new Promise<void>((resolve) => (resume = resolve))
      const content = randomBytes(3 * CHUNK)
      async function* slowly() {
        yield content.subarray(0, 2 * CHUNK)
        await paused
        yield content.subarray(2 * CHUNK)
      }
      const writing = blobs.putStream(slowly())
      await new Promise((resolve) => setTimeout(resolve, 20)) // two chunks are written
      let collected = false
      const collecting = blobs.collect(new Set()).then(() => (collected = true))
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(collected).toBe(false)
      resume()
      const manifest = await writing
      await collecting
      // Collected after it was whole: with nothing naming it and no grace, it went whole.
      expect(await blobs.has(manifest.sha256)).toBe(false)
      expect(await keys(storage)).toEqual([])
      // With a grace period it stays, readable.
      const again = await blobs.put(content)
      await blobs.collect(new Set(), Date.now() - 60_000)
      expect(Buffer.from((await blobs.read(again.sha256))!).equals(content)).toBe(true)
    })
  })
}
