// The merges a store holds, as the status page lists them: newest first by who decided
// when, from the documents (so merges learned from a peer and kept across a restart are
// there), each change told as a `merge` event, and what a listing read once never stale.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { InstanceId, ObjectId } from '../../src/model/index.ts'
import {
  LevelStorage,
  MemoryStorage,
  type ObjectStore,
  type StorageAdapter,
} from '../../src/store/index.ts'
import { openStore, ship, tempDir } from '../helpers/stores.ts'

async function pair(store: ObjectStore, firstName: string): Promise<[ObjectId, ObjectId]> {
  const make = async () =>
    (await store.create({ type: 'person', fields: { firstName, lastName: 'Berg' } })).id
  return [await make(), await make()].sort() as [ObjectId, ObjectId]
}

/** A store whose write stamps are `clock.now`. */
async function clocked(name: string, storage: StorageAdapter = new MemoryStorage()) {
  const clock = { now: 1_000 }
  const store = await openStore(storage, {
    instanceId: name as InstanceId,
    clock: () => clock.now,
  })
  return { store, clock }
}

describe('the merges a store holds', () => {
  it('lists them newest first, with who decided and when, and leaves an undone one out', async () => {
    const { store, clock } = await clocked('a')
    const events: ObjectId[] = []
    store.on('merge', (object) => events.push(object))
    const [ann, bob, cid] = [
      await pair(store, 'Ann'),
      await pair(store, 'Bob'),
      await pair(store, 'Cid'),
    ]
    for (const [[small, large], at] of [
      [ann, 5_000],
      [bob, 7_000],
      [cid, 6_000],
    ] as const) {
      clock.now = at
      await store.merge(small, large)
    }
    expect(events).toEqual([ann[1], bob[1], cid[1]])
    const record = ([small, large]: [ObjectId, ObjectId], at: number) => ({
      object: large,
      type: 'person',
      into: small,
      decided: { by: 'a', at },
    })
    expect(await store.listMerges()).toEqual([
      record(bob, 7_000),
      record(cid, 6_000),
      record(ann, 5_000),
    ])
    expect(await store.listMerges(2)).toEqual([record(bob, 7_000), record(cid, 6_000)])

    // Undone, it is gone; merged again later, it is listed with the new decision (what
    // the first listings read of it is not kept past the change).
    clock.now = 8_000
    await store.unmerge(bob[1])
    expect(events.at(-1)).toBe(bob[1])
    expect((await store.listMerges()).map((merge) => merge.object)).toEqual([cid[1], ann[1]])
    clock.now = 9_000
    await store.merge(bob[0], bob[1])
    expect((await store.listMerges(1))[0]).toEqual(record(bob, 9_000))
    await store.close()
  })

  it('names the object that stands for a merged one now, through a chain', async () => {
    const { store, clock } = await clocked('a')
    const [first, second, third] = [
      ...(await pair(store, 'Dag')),
      (await store.create({ type: 'person', fields: { firstName: 'Dag', lastName: 'B' } })).id,
    ].sort() as [ObjectId, ObjectId, ObjectId]
    await store.merge(second, third)
    clock.now = 2_000
    await store.merge(first, second)
    expect(
      (await store.listMerges()).map((merge) => [merge.object, merge.into, merge.decided?.at]),
    ).toEqual([
      [second, first, 2_000],
      [third, first, 1_000],
    ])
    await store.close()
  })

  it('holds merges learned from a peer, with the peer as the decider, across a restart', async () => {
    const { store: a, clock } = await clocked('a')
    const dir = join(tempDir('merge-list'), 'store')
    const b = (await clocked('b', new LevelStorage(dir))).store
    const [small, large] = await pair(a, 'Eva')
    await ship(a, b)
    const events: ObjectId[] = []
    b.on('merge', (object) => events.push(object))
    const seq = a.lastSeq
    clock.now = 4_000
    await a.merge(small, large)
    await ship(a, b, seq)
    expect(events).toEqual([large])
    const learned = [
      { object: large, type: 'person', into: small, decided: { by: 'a', at: 4_000 } },
    ]
    expect(await b.listMerges()).toEqual(learned)
    await b.close()
    const again = (await clocked('b', new LevelStorage(dir))).store
    expect(await again.listMerges()).toEqual(learned)
    await again.close()
    await a.close()
  })

  it('agrees with a peer on who decided a merge both made at once, after listing it', async () => {
    const { store: a, clock: clockA } = await clocked('a')
    const { store: b, clock: clockB } = await clocked('b')
    const [small, large] = await pair(a, 'Fay')
    await ship(a, b)
    const [seqA, seqB] = [a.lastSeq, b.lastSeq]
    clockA.now = 10_000
    clockB.now = 20_000
    await a.merge(small, large)
    await b.merge(small, large)
    // Each has read its own decision; the documents then settle on one of the two.
    expect((await a.listMerges())[0]!.decided).toEqual({ by: 'a', at: 10_000 })
    expect((await b.listMerges())[0]!.decided).toEqual({ by: 'b', at: 20_000 })
    await ship(a, b, seqA)
    await ship(b, a, seqB)
    const [atA, atB] = [await a.listMerges(), await b.listMerges()]
    expect(atA).toEqual(atB)
    expect(atA).toHaveLength(1)
    expect([
      { by: 'a', at: 10_000 },
      { by: 'b', at: 20_000 },
    ]).toContainEqual(atA[0]!.decided)
    await a.close()
    await b.close()
  })
})
