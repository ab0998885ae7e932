// File contents between paired instances: fetched chunk by chunk by the side that lacks
// them, verified, resumed after an interruption, bounded, and only what is shared.
import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CORE_FACET, facetId, type InstanceId, type ObjectId } from '../../src/model/index.ts'
import { MemoryStorage, type StorageAdapter } from '../../src/store/index.ts'
import { BlobTransfer, FileTransferStats } from '../../src/sync/blob-transfer/index.ts'
import { SHARE_EVERYTHING, collectFileContents, scopeFromShare } from '../../src/sync/index.ts'
import type { SyncMessage } from '../../src/sync/messages.ts'
import { captureLogger } from '../helpers/capture-logger.ts'
import { eventually, pairNodes, syncNode, type SyncNode } from '../helpers/sync-nodes.ts'

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** A person and their file with `content` at `node`. */
async function personWithFile(
  node: SyncNode,
  content: Uint8Array,
  options: { kind?: string; roles?: string[] } = {},
): Promise<{ owner: ObjectId; file: ObjectId; sha256: string }> {
  const owner = await node.store.create({
    type: 'person',
    fields: { firstName: 'Kari', lastName: 'Nordmann', roles: options.roles ?? ['partner'] },
  })
  const { sha256 } = await node.store.blobs.put(content)
  const file = await node.store.create({
    type: 'file',
    fields: { ownerId: owner.id, kind: options.kind ?? 'resume', name: 'cv.pdf', sha256 },
  })
  return { owner: owner.id, file: file.id, sha256 }
}

async function keysUnder(storage: StorageAdapter, prefix: string): Promise<string[]> {
  const out: string[] = []
  for await (const [key] of storage.range({ gte: prefix, lt: `${prefix}\uffff` })) out.push(key)
  return out
}

describe('file contents between peers', () => {
  it('reach the peer byte for byte, and the blob store says so when they do', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    const content = randomBytes(700 * 1024)
    const { file, sha256 } = await personWithFile(a, content)
    const published: string[] = []
    b.store.blobs.on('published', (each) => published.push(each))
    a.engine.connect(b.id)
    await eventually(() => b.store.blobs.has(sha256))
    expect(Buffer.from((await b.store.blobs.read(sha256))!).equals(content)).toBe(true)
    expect((await b.store.get(file))?.fields).toMatchObject({ sha256, size: content.length })
    // What tells the local system the content is here now.
    expect(published).toEqual([sha256])
    expect(await b.store.blobs.wanted()).toEqual(new Map())
    // Each side's ledger: the whole content moved, nothing under way, nothing failed.
    expect(b.engine.fileTransfers.of(a.id)).toMatchObject({
      active: [],
      bytesIn: content.length,
      bytesOut: 0,
      failed: 0,
    })
    expect(b.engine.fileTransfers.of(a.id).rateIn).toBeGreaterThan(0)
    await eventually(() => a.engine.fileTransfers.of(b.id).active.length === 0)
    expect(a.engine.fileTransfers.of(b.id)).toMatchObject({ bytesOut: content.length, failed: 0 })
    await Promise.all([a.stop(), b.stop()])
  })

  it('a 20 MiB file interrupted halfway resumes with only the missing chunks sent', async () => {
    // a's storage holds back the reads of chunks 40 and up until the session is cut.
    const storage = new MemoryStorage()
    const get = storage.get.bind(storage)
    let release = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    storage.get = async (key: string) => {
      if (key.startsWith('b/c/') && Number(key.slice(key.lastIndexOf('/') + 1)) >= 40) await held
      return get(key)
    }
    const a = await syncNode('a', undefined, { storage })
    const b = await syncNode('b')
    await pairNodes(a, b)
    const content = randomBytes(20 * 1024 * 1024)
    const { file, sha256 } = await personWithFile(a, content)
    expect((await a.store.blobs.manifest(sha256))!.chunks).toHaveLength(80)
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.blobs.missingChunks(sha256)).length === 40, 20_000)
    const half = 40 * 256 * 1024
    // Both sides show the transfer under way, halfway.
    expect(b.engine.fileTransfers.of(a.id).active).toEqual([
      { file, sha256, direction: 'in', bytes: half, size: content.length },
    ])
    await eventually(() => a.engine.fileTransfers.of(b.id).active[0]?.bytes === half)
    expect(a.engine.fileTransfers.of(b.id).active).toEqual([
      { file, sha256, direction: 'out', bytes: half, size: content.length },
    ])
    const first = a.engine.session(b.id)!
    b.engine.disconnect(a.id)
    // a's session ends once the read it waits on returns.
    release()
    await eventually(() => a.engine.session(b.id) === undefined)
    expect(await b.store.blobs.has(sha256)).toBe(false)
    expect(await b.store.blobs.missingChunks(sha256)).toHaveLength(40)

    b.engine.connect(a.id)
    await eventually(() => b.store.blobs.has(sha256), 20_000)
    const second = a.engine.session(b.id)!
    expect(second).not.toBe(first)
    // The first session sent the first 40, and perhaps some of the window it was asked
    // for as it was cut (lost on the way); the second only what b was missing.
    expect(first.blobStats.chunksSent).toBeGreaterThanOrEqual(40)
    expect(first.blobStats.chunksSent).toBeLessThanOrEqual(44)
    expect(second.blobStats.chunksSent).toBe(40)
    expect(sha(Buffer.from((await b.store.blobs.read(sha256))!))).toBe(sha256)
    // b's disconnect (as unpairing does) forgot what came before: the second half only.
    expect(b.engine.fileTransfers.of(a.id)).toMatchObject({ active: [], bytesIn: half, failed: 0 })
    const sent = a.engine.fileTransfers.of(b.id).bytesOut
    expect(sent).toBeGreaterThanOrEqual(2 * half)
    expect(sent).toBeLessThanOrEqual(2 * half + 4 * 256 * 1024)
    await Promise.all([a.stop(), b.stop()])
  })

  it('a relay that lacks the content yet is asked again, and passes it on once it has it', async () => {
    // a's chunk reads wait until released: b holds the file object but not its content.
    const storage = new MemoryStorage()
    const get = storage.get.bind(storage)
    let release = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    storage.get = async (key: string) => {
      if (key.startsWith('b/c/')) await held
      return get(key)
    }
    const a = await syncNode('a', undefined, { storage })
    const b = await syncNode('b')
    const c = await syncNode('c', undefined, { blobRetryMs: 50 })
    await pairNodes(a, b)
    await pairNodes(b, c)
    const content = randomBytes(300 * 1024)
    const { file, sha256 } = await personWithFile(a, content)
    b.engine.connect(a.id)
    b.engine.connect(c.id)
    await eventually(async () => (await c.store.get(file)) !== undefined)
    await eventually(() => (c.engine.session(b.id)?.blobStats.blobsUnavailable ?? 0) >= 1)
    expect(await c.store.blobs.has(sha256)).toBe(false)
    release()
    await eventually(() => c.store.blobs.has(sha256))
    expect(Buffer.from((await c.store.blobs.read(sha256))!).equals(content)).toBe(true)
    await Promise.all([a.stop(), b.stop(), c.stop()])
  })

  it('drops chunks nobody asked for, keeping nothing of them', async () => {
    const b = await syncNode('b')
    const { logger, lines } = captureLogger()
    const transfer = new BlobTransfer({
      peer: 'peer' as InstanceId,
      store: b.store,
      scope: SHARE_EVERYTHING,
      send: () => Promise.resolve(),
      logger,
      inFlight: new Set(),
    })
    const data = randomBytes(1024)
    for (let index = 0; index < 100; index++) {
      await transfer.handle({ t: 'chunk', sha256: sha(data), index, data })
    }
    expect(lines.filter((line) => line.msg === 'file chunk not asked for; dropped')).toHaveLength(
      100,
    )
    expect(await keysUnder(b.storage, 'b/')).toEqual([])
    transfer.close()
    await b.stop()
  })

  it('keeps what a peer that starts transfers and never finishes them makes us hold within its budget', async () => {
    // The peer answers every manifest request and no chunk request: each fetch times out
    // with its transfer unfinished. b takes files of 64 KiB and holds 128 KiB unverified.
    const b = await syncNode('b', undefined, {
      blobs: { maxBytes: 64 * 1024, chunkBytes: 16 * 1024, receivingBytesPerPeer: 128 * 1024 },
    })
    const source = await syncNode('source', undefined, { blobs: { chunkBytes: 16 * 1024 } })
    // The file objects come from the source, as a peer's would; their content stays there.
    const owner = await source.store.create({
      type: 'person',
      fields: { firstName: 'Kari', lastName: 'Nordmann' },
    })
    const files: ObjectId[] = [owner.id]
    for (let i = 0; i < 5; i++) {
      const { sha256 } = await source.store.blobs.put(randomBytes(64 * 1024))
      const file = await source.store.create({
        type: 'file',
        fields: { ownerId: owner.id, kind: 'resume', name: `cv${i}.pdf`, sha256 },
      })
      files.push(file.id)
    }
    for (const id of files) {
      const facet = facetId(id, CORE_FACET)
      await b.store.applyRemoteDocument(facet, (await source.store.getFacetBytes(facet))!)
    }
    const { logger, lines } = captureLogger()
    const asked = new Set<string>()
    const transfer: BlobTransfer = new BlobTransfer({
      peer: 'hostile' as InstanceId,
      store: b.store,
      scope: SHARE_EVERYTHING,
      send: async (message: SyncMessage) => {
        if (message.t !== 'blob-get') return // chunk requests go unanswered
        asked.add(message.sha256)
        const manifest = (await source.store.blobs.manifest(message.sha256))!
        const chunks = Buffer.concat(manifest.chunks.map((chunk) => Buffer.from(chunk, 'hex')))
        setImmediate(() => {
          void transfer.handle({ t: 'blob-manifest', ...manifest, chunks })
        })
      },
      logger,
      inFlight: new Set(),
      requestTimeoutMs: 30,
    })
    await transfer.notice(files)
    await eventually(() => asked.size === 5, 10_000)
    await eventually(
      () =>
        lines.filter((line) => line.msg === 'file content no longer served by this peer').length ===
        5,
    )
    expect(await keysUnder(b.storage, 'b/p/')).toHaveLength(2)
    expect(
      lines.filter((line) =>
        String(line.msg).startsWith('unfinished file transfers from this peer dropped'),
      ),
    ).toHaveLength(3)
    transfer.close()
    await Promise.all([b.stop(), source.stop()])
  })

  it('refuses a chunk that arrives damaged and fetches it again', async () => {
    // a's storage hands out one chunk damaged, once (as a bad disk read or a bug might).
    const storage = new MemoryStorage()
    const get = storage.get.bind(storage)
    let damaged = 0
    storage.get = async (key: string) => {
      const value = await get(key)
      if (value !== undefined && key.startsWith('b/c/') && key.endsWith('/00000002') && !damaged) {
        damaged++
        const copy = value.slice()
        copy[100]! ^= 0xff
        return copy
      }
      return value
    }
    const a = await syncNode('a', undefined, { storage })
    const b = await syncNode('b')
    await pairNodes(a, b)
    const content = randomBytes(1024 * 1024 + 5)
    const { sha256 } = await personWithFile(a, content)
    b.engine.connect(a.id)
    await eventually(() => b.store.blobs.has(sha256))
    expect(damaged).toBe(1)
    expect(b.engine.session(a.id)!.blobStats.chunksRefused).toBe(1)
    expect(Buffer.from((await b.store.blobs.read(sha256))!).equals(content)).toBe(true)
    await Promise.all([a.stop(), b.stop()])
  })

  it('refuses content over the limit and keeps nothing of it', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b', undefined, { blobs: { maxBytes: 1024 * 1024 } })
    await pairNodes(a, b)
    const { file, sha256 } = await personWithFile(a, randomBytes(3 * 1024 * 1024))
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(file)) !== undefined)
    await eventually(async () => (await b.store.blobs.wanted()).size === 0)
    expect(await b.store.blobs.has(sha256)).toBe(false)
    expect(await keysUnder(b.storage, 'b/')).toEqual([])
    expect(a.engine.session(b.id)!.blobStats.chunksSent).toBe(0)
    await eventually(() => b.engine.fileTransfers.of(a.id).failed === 1)
    expect(b.engine.fileTransfers.of(a.id)).toMatchObject({ active: [], bytesIn: 0 })
    expect(a.engine.fileTransfers.of(b.id)).toMatchObject({ active: [], bytesOut: 0, failed: 0 })
    await Promise.all([a.stop(), b.stop()])
  })

  it('shares only files whose kind and owner are shared with the peer, and their content', async () => {
    const share = {
      person: { roles: ['partner'] },
      file: { kinds: ['resume'] },
    }
    const a = await syncNode('a', undefined, {
      scopeOf: () => scopeFromShare(share, 'peers[0]').scope,
    })
    const b = await syncNode('b', undefined, {
      scopeOf: () => scopeFromShare(share, 'peers[0]').scope,
    })
    await pairNodes(a, b)
    const resume = await personWithFile(a, randomBytes(5000))
    const photo = await personWithFile(a, randomBytes(6000), { kind: 'photo' })
    const donorsResume = await personWithFile(a, randomBytes(7000), { roles: ['donor'] })
    b.engine.connect(a.id)
    await eventually(() => b.store.blobs.has(resume.sha256))
    // The photo's kind is not shared: neither its object nor its content goes.
    expect(await b.store.get(photo.file)).toBeUndefined()
    // The donor's résumé: its kind is shared but its owner is not, so neither it nor its
    // content goes.
    expect(await b.store.get(donorsResume.file)).toBeUndefined()
    expect(await b.store.blobs.has(donorsResume.sha256)).toBe(false)
    // The same once the session is live: a partner's new file goes, a donor's does not.
    const laterDonor = await personWithFile(a, randomBytes(800), { roles: ['donor'] })
    const laterPartner = await personWithFile(a, randomBytes(900))
    await eventually(() => b.store.blobs.has(laterPartner.sha256))
    expect(await b.store.get(laterDonor.file)).toBeUndefined()
    expect(await b.store.blobs.has(photo.sha256)).toBe(false)
    // Asked all the same (by a peer that ignores its scope), a refuses and says why.
    const sent: SyncMessage[] = []
    const transfers = new FileTransferStats()
    const serving = new BlobTransfer({
      peer: b.id,
      store: a.store,
      scope: scopeFromShare(share, 'peers[0]').scope,
      send: (message) => Promise.resolve(void sent.push(message)),
      logger: captureLogger().logger,
      inFlight: new Set(),
      transfers,
    })
    await serving.handle({ t: 'blob-get', sha256: donorsResume.sha256, object: donorsResume.file })
    await serving.handle({ t: 'blob-get', sha256: photo.sha256, object: photo.file })
    await serving.handle({ t: 'chunk-get', sha256: donorsResume.sha256, index: 0 })
    expect(sent).toEqual([
      {
        t: 'blob-none',
        sha256: donorsResume.sha256,
        reason: "the file's owner is not shared with this peer",
      },
      { t: 'blob-none', sha256: photo.sha256, reason: 'the file is not shared with this peer' },
      { t: 'blob-none', sha256: donorsResume.sha256, reason: 'no manifest of it was asked for' },
    ])
    // A chunk the peer makes up is refused, and not counted as a transfer of ours failing.
    await serving.handle({ t: 'blob-get', sha256: resume.sha256, object: resume.file })
    await serving.handle({ t: 'chunk-get', sha256: resume.sha256, index: 1e9 })
    expect(sent.at(-1)).toEqual({
      t: 'blob-none',
      sha256: resume.sha256,
      reason: 'chunk 1000000000 of it is not held here',
    })
    expect(transfers.of(b.id).failed).toBe(0)
    serving.close()
    await Promise.all([a.stop(), b.stop()])
  })

  it('collects content nothing names, and that of a deleted file once every peer has the delete', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    const deleted = await personWithFile(a, randomBytes(5000))
    const kept = await personWithFile(a, randomBytes(6000))
    const loose = await a.store.blobs.put(randomBytes(7000)) // stored, never named
    a.engine.connect(b.id)
    await eventually(
      async () =>
        (await b.store.blobs.has(deleted.sha256)) && (await b.store.blobs.has(kept.sha256)),
    )
    // b goes away; the delete happens while it is gone.
    b.engine.disconnect(a.id)
    await eventually(() => a.engine.session(b.id) === undefined)
    await a.store.delete(deleted.file)
    // Just stored content is kept (its file may be on its way); older is not.
    expect((await collectFileContents(a.store, [b.id])).blobs).toEqual([])
    const early = await collectFileContents(a.store, [b.id], { graceMs: 0 })
    expect(early).toMatchObject({ blobs: [loose.sha256], waitingForPeers: 1 })
    expect(await a.store.blobs.has(deleted.sha256)).toBe(true)

    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(deleted.file))?.deleted === true)
    await eventually(async () => {
      const acked = await a.store.getSyncState(`acked/${b.id}`)
      return acked !== undefined && Number(new TextDecoder().decode(acked)) >= a.store.lastSeq
    })
    const late = await collectFileContents(a.store, [b.id], { graceMs: 0 })
    expect(late).toMatchObject({ blobs: [deleted.sha256], waitingForPeers: 0 })
    expect(await a.store.blobs.has(deleted.sha256)).toBe(false)
    expect(await a.store.blobs.has(kept.sha256)).toBe(true)
    expect(await keysUnder(a.storage, 'b/c/')).toHaveLength(1)
    await Promise.all([a.stop(), b.stop()])
  })
})
