// Versions across instances: peers that speak no sync protocol version in common refuse
// each other with one message on both sides and exchange nothing; once one upgrades, they
// sync.
import { describe, expect, it } from 'vitest'
import { createPeople, eventually, pairNodes, syncNode } from '../helpers/sync-nodes.ts'

describe('sync protocol versions', () => {
  it('peers with no version in common say so on both sides, send nothing, and sync once one upgrades', async () => {
    const a = await syncNode('a', undefined, { versions: { min: 2, max: 2 } })
    const old = await syncNode('b', undefined, { versions: { min: 1, max: 1 } })
    await pairNodes(a, old)
    const ids = await createPeople(a.store, 3, 'p')
    // As daemons do: each keeps a session with every paired peer.
    a.engine.connect(old.id)
    old.engine.connect(a.id)
    await eventually(() => a.engine.state(old.id).lastError !== undefined)
    await eventually(() => old.engine.state(a.id).lastError !== undefined)
    expect(a.engine.state(old.id).lastError).toBe(
      `${old.id}: the peer speaks sync protocol version 1 and this objectsync version 2: the peer must upgrade`,
    )
    expect(old.engine.state(a.id).lastError).toBe(
      `${a.id}: the peer speaks sync protocol version 2 and this objectsync version 1: upgrade this instance`,
    )
    expect(old.store.lastSeq).toBe(0)

    // B upgrades: same identity, store and peers, now speaking 1–2.
    const { identity, storage, registry } = old
    await old.stop()
    const upgraded = await syncNode(
      'b',
      { identity, storage, registry },
      {
        versions: { min: 1, max: 2 },
      },
    )
    upgraded.engine.connect(a.id)
    await eventually(async () => (await upgraded.store.list('person')).items.length === 3)
    expect((await upgraded.store.list('person')).items.map((item) => item.id).sort()).toEqual(
      [...ids].sort(),
    )
    await eventually(() => a.engine.state(upgraded.id).lastError === undefined)
    await a.stop()
    await upgraded.stop()
  })
})
