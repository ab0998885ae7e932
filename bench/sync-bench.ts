// The first-sync benchmark: N persons created at A, then A and B (real LevelDB stores,
// libp2p over loopback TCP, sealed frames) sync until B holds all of them.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generatePairKey } from '../src/crypto/index.ts'
import type { InstanceId } from '../src/model/index.ts'
import {
  PeerLinks,
  PeerRegistry,
  createIdentity,
  createLibp2pTransport,
  memoryFiles,
  type Transport,
} from '../src/net/index.ts'
import { LevelStorage, ObjectStore } from '../src/store/index.ts'
import { SyncEngine } from '../src/sync/index.ts'
import { person } from './people.ts'

export interface SyncBenchResult {
  count: number
  facets: number
  createSeconds: number
  firstSyncSeconds: number
  facetsPerSecond: number
  peakRssMb: number
}

interface BenchNode {
  id: InstanceId
  store: ObjectStore
  registry: PeerRegistry
  transport: Transport
  links: PeerLinks
  engine: SyncEngine
}

async function benchNode(dir: string, name: string): Promise<BenchNode> {
  const identity = await createIdentity()
  const store = new ObjectStore({
    storage: new LevelStorage(join(dir, name)),
    instanceId: identity.id,
  })
  await store.open()
  const registry = new PeerRegistry(memoryFiles())
  const late: { engine?: SyncEngine } = {}
  const links = new PeerLinks({
    registry,
    name,
    onChannel: (channel) => late.engine?.accept(channel),
  })
  const transport = await createLibp2pTransport({
    privateKey: identity.privateKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    gate: links.admits,
  })
  await transport.start()
  await links.start(transport)
  const engine = new SyncEngine({ store, links })
  late.engine = engine
  return { id: identity.id, store, registry, transport, links, engine }
}

export async function runSyncBench(count: number): Promise<SyncBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-sync-'))
  const a = await benchNode(dir, 'a')
  const b = await benchNode(dir, 'b')
  try {
    const key = generatePairKey()
    await a.registry.add(
      { id: b.id, name: 'b', addresses: b.transport.addresses() },
      { current: key },
    )
    await b.registry.add(
      { id: a.id, name: 'a', addresses: a.transport.addresses() },
      { current: key },
    )
    const createStart = performance.now()
    for (let start = 0; start < count; start += 256) {
      const batch = []
      for (let i = start; i < Math.min(count, start + 256); i++) {
        batch.push(a.store.create({ type: 'person', fields: person(i) }))
      }
      await Promise.all(batch)
    }
    const createSeconds = (performance.now() - createStart) / 1000
    const facets = a.store.lastSeq
    const syncStart = performance.now()
    const done = new Promise<void>((resolve) => {
      b.engine.on('progress', (_, progress) => {
        if (progress.caughtUp && b.store.lastSeq >= facets) resolve()
      })
    })
    b.engine.connect(a.id)
    await done
    const firstSyncSeconds = (performance.now() - syncStart) / 1000
    return {
      count,
      facets,
      createSeconds: Math.round(createSeconds * 100) / 100,
      firstSyncSeconds: Math.round(firstSyncSeconds * 100) / 100,
      facetsPerSecond: Math.round(facets / firstSyncSeconds),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    }
  } finally {
    for (const node of [a, b]) {
      node.engine.stop()
      node.links.stop()
      await node.transport.stop()
      await node.store.close()
    }
    rmSync(dir, { recursive: true, force: true })
  }
}
