// The sync engine over real libp2p: TCP on loopback, Noise, yamux, sealed frames and
// LevelDB stores — the same behaviour as on the memory network, end to end.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LevelStorage } from '../../src/store/index.ts'
import { PeerRegistry, createIdentity, memoryFiles } from '../../src/net/index.ts'
import {
  createPeople,
  eventually,
  pairNodes,
  sameObjects,
  syncNode,
  type SyncNode,
} from '../helpers/sync-nodes.ts'

const folders: string[] = []
const running: SyncNode[] = []

afterEach(async () => {
  await Promise.all(running.splice(0).map((node) => node.stop().catch(() => {})))
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

async function tcpNode(name: string, reuse?: Parameters<typeof syncNode>[1]): Promise<SyncNode> {
  const folder = mkdtempSync(join(tmpdir(), `objectsync-libp2p-${name}-`))
  folders.push(folder)
  const node = await syncNode(
    name,
    reuse ?? {
      identity: await createIdentity(),
      storage: new LevelStorage(join(folder, 'store')),
      registry: new PeerRegistry(memoryFiles()),
    },
    { libp2p: true },
  )
  running.push(node)
  return node
}

describe('sync over libp2p TCP', () => {
  it('first sync both ways, then a live edit, between two instances', async () => {
    const a = await tcpNode('a')
    const b = await tcpNode('b')
    await pairNodes(a, b)
    const fromA = await createPeople(a.store, 500, 'a')
    const fromB = await createPeople(b.store, 50, 'b')
    b.engine.connect(a.id)
    await eventually(() => sameObjects([a.store, b.store], [...fromA, ...fromB]), 15_000)
    const started = Date.now()
    await a.store.update(fromA[0]!, { fields: { title: 'live over TCP' } })
    await eventually(async () => (await b.store.get(fromA[0]!))?.fields.title === 'live over TCP')
    expect(Date.now() - started).toBeLessThan(2000)
    const traffic = b.engine.session(a.id)!.traffic!
    expect(traffic.bytesReceived).toBeGreaterThan(0)
    expect(traffic.framesSent).toBeGreaterThan(0)
  }, 30_000)

  it('relays A–B–C, and an instance offline during edits catches up after a restart', async () => {
    const a = await tcpNode('a')
    const b = await tcpNode('b')
    const c = await tcpNode('c')
    await pairNodes(a, b)
    await pairNodes(b, c)
    a.engine.connect(b.id)
    c.engine.connect(b.id)
    const ids = await createPeople(a.store, 20, 'p')
    await eventually(() => sameObjects([a.store, c.store], ids), 15_000)
    // C goes away; A and C edit the same person, different fields, while apart.
    const saved = { identity: c.identity, storage: c.storage, registry: c.registry }
    await c.stop()
    running.splice(running.indexOf(c), 1)
    await a.store.update(ids[3]!, { fields: { title: 'from a' } })
    const c2 = await tcpNode('c', saved)
    await c2.store.update(ids[3]!, { fields: { phone: 'from c' } })
    // Its address changed with the restart: B learns it as peers.json would tell it.
    await b.registry.add(
      { id: c2.id, name: 'c', addresses: c2.transport.addresses() },
      await b.registry.keys(c2.id),
    )
    c2.engine.connect(b.id)
    await eventually(async () => {
      const [x, z] = await Promise.all([a.store.get(ids[3]!), c2.store.get(ids[3]!)])
      return (
        x?.fields.phone === 'from c' &&
        z?.fields.title === 'from a' &&
        JSON.stringify(x) === JSON.stringify(z)
      )
    }, 15_000)
  }, 40_000)
})
