// The file content benchmark: one file's content fetched by a second instance over
// loopback libp2p (store, sealed channel, sync engine, blob store on LevelDB, all as the
// daemon runs them, both instances in this process), against the sealed-frame throughput
// of the link benchmark at the same chunk size, measured in the same run. Used by
// `npm run bench:files` and by a small smoke run in `npm test`.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  PeerRegistry,
  createIdentity,
  memoryFiles,
  type PeerLinks,
  type Transport,
} from '../src/net/index.ts'
import type { InstanceId } from '../src/model/index.ts'
import { DEFAULT_CHUNK_BYTES } from '../src/store/blob-store.ts'
import { LevelStorage, ObjectStore } from '../src/store/index.ts'
import type { SyncEngine } from '../src/sync/index.ts'
import { runLinkBench } from './link-bench.ts'
import { pairRegistries, startSync } from './sync-node.ts'

export interface FilesBenchResult {
  fileMegabytes: number
  chunkBytes: number
  fileSeconds: number
  fileMBps: number
  /** The link benchmark's sealed frames of the chunk size, in the same run. */
  sealedFrameMBps: number
  fileToSealedFrames: number
  peakRssMb: number
}

interface Instance {
  id: InstanceId
  store: ObjectStore
  registry: PeerRegistry
  transport: Transport
  links: PeerLinks
  engine: SyncEngine
}

async function instance(name: string, dir: string, maxBytes: number): Promise<Instance> {
  const identity = await createIdentity()
  const store = new ObjectStore({
    storage: new LevelStorage(join(dir, name)),
    instanceId: identity.id,
    identityKey: identity.privateKey,
    blobs: { maxBytes },
  })
  await store.open()
  const registry = new PeerRegistry(memoryFiles())
  const { links, transport, engine } = await startSync(name, identity, store, registry)
  return { id: identity.id, store, registry, transport, links, engine }
}

export async function runFilesBench(megabytes: number): Promise<FilesBenchResult> {
  const bytes = Math.round(megabytes * 1024 * 1024)
  const [link] = await runLinkBench(Math.max(bytes, DEFAULT_CHUNK_BYTES), [DEFAULT_CHUNK_BYTES])
  const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-files-'))
  const instances: Instance[] = []
  try {
    const a = await instance('a', dir, bytes + DEFAULT_CHUNK_BYTES)
    instances.push(a)
    const b = await instance('b', dir, bytes + DEFAULT_CHUNK_BYTES)
    instances.push(b)
    await pairRegistries(a, b)
    const owner = await a.store.create({
      type: 'person',
      fields: { firstName: 'Kari', lastName: 'Nordmann' },
    })
    const { sha256 } = await a.store.blobs.put(randomBytes(bytes))
    await a.store.create({
      type: 'file',
      fields: { ownerId: owner.id, kind: 'resume', name: 'large.bin', sha256 },
    })
    const arrived = new Promise<void>((resolve) =>
      b.store.blobs.on('published', (published) => {
        if (published === sha256) resolve()
      }),
    )
    const started = performance.now()
    b.engine.connect(a.id)
    await arrived
    const seconds = (performance.now() - started) / 1000
    const fileMBps = Math.round((bytes / 1e6 / seconds) * 10) / 10
    return {
      fileMegabytes: megabytes,
      chunkBytes: DEFAULT_CHUNK_BYTES,
      fileSeconds: Math.round(seconds * 100) / 100,
      fileMBps,
      sealedFrameMBps: link!.sealedMBps,
      fileToSealedFrames: Math.round((fileMBps / link!.sealedMBps) * 100) / 100,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    }
  } finally {
    for (const each of instances) {
      each.engine.stop()
      each.links.stop()
      await each.transport.stop()
      await each.store.close()
    }
    rmSync(dir, { recursive: true, force: true })
  }
}
