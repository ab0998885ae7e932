// Merges as data: two objects found to be one record, decided on one instance, reach every
// instance with the documents, and all agree on the survivor whatever order they learn
// things in; references follow; a merge can be undone.
import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { LevelStorage, MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import type { FacetDoc } from '../../src/store/facet-doc.ts'
import { openStore, ship, tempDir } from '../helpers/stores.ts'
import { join } from 'node:path'

const instance = (name: string) => ({ instanceId: name as InstanceId })

async function person(store: ObjectStore, firstName: string, fields: object = {}) {
  return (
    await store.create({ type: 'person', fields: { firstName, lastName: 'Smith', ...fields } })
  ).id
}

/** Three ids in creation order: ULIDs made in one store sort as they were made. */
const sorted = <T extends ObjectId[]>(ids: [...T]): T => [...ids].sort() as T

describe('merges', () => {
  it('keeps the smaller id, fills the fields it lacks, and points the other at it', async () => {
    const store = await openStore(new MemoryStorage(), instance('a'))
    const first = await person(store, 'John', { email: 'john@example.org' })
    const second = await person(store, 'John', { phone: '+47 1234', email: 'other@example.org' })
    const [small, large] = sorted([first, second])
    expect(await store.merge(large, small)).toBe(small)
    const survivor = (await store.get(small))!
    expect(survivor.merged).toEqual([large])
    expect(survivor.mergedInto).toBeUndefined()
    // Its own email wins; the phone only the other had fills in.
    expect(survivor.fields.email).toBe(small === first ? 'john@example.org' : 'other@example.org')
    expect(survivor.fields.phone).toBe('+47 1234')
    const merged = (await store.get(large))!
    expect(merged.mergedInto).toBe(small)
    expect(store.survivorOf(large)).toBe(small)
    const listed = await store.list('person', {})
    expect(listed.items.map((item) => item.id)).toEqual([small])
    expect((await store.list('person', { includeMerged: true })).items).toHaveLength(2)
    await store.close()
  })

  it('makes references name the survivor', async () => {
    const store = await openStore(new MemoryStorage(), instance('a'))
    const [small, large] = sorted([await person(store, 'Ann'), await person(store, 'Ann')])
    const donation = await store.create({
      type: 'transaction',
      fields: { type: 'donation', date: '2026-01-02', amount: '10.00', personId: large },
    })
    await store.merge(small, large)
    expect((await store.get(donation.id))!.fields.personId).toBe(small)
    await store.close()
  })

  it('refuses to merge objects of different types, and to unmerge what was not merged', async () => {
    const store = await openStore(new MemoryStorage(), instance('a'))
    const someone = await person(store, 'Ann')
    const org = (await store.create({ type: 'organization', fields: { name: 'Ann AS' } })).id
    await expect(store.merge(someone, org)).rejects.toMatchObject({ code: 'INVALID_MERGE' })
    await expect(store.unmerge(someone)).rejects.toMatchObject({ code: 'INVALID_MERGE' })
    expect((await store.get(someone))!.mergedInto).toBeUndefined()
    expect((await store.get(org))!.mergedInto).toBeUndefined()
    await store.close()
  })

  it('refuses to merge a deleted object, either way round, and changes nothing', async () => {
    const store = await openStore(new MemoryStorage(), instance('a'))
    const gone = await person(store, 'Ann')
    const live = await person(store, 'Ann')
    await store.delete(gone)
    for (const [a, b] of [
      [gone, live],
      [live, gone],
    ] as const) {
      await expect(store.merge(a, b)).rejects.toMatchObject({
        code: 'INVALID_MERGE',
        message: expect.stringContaining(`${gone} is deleted`),
      })
    }
    expect((await store.get(live))!.deleted).toBe(false)
    expect(store.groupOf(live)).toEqual([live])
    await store.close()
  })

  it('reaches another instance with the documents, which agrees on the survivor', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const [small, large] = sorted([await person(a, 'Eve'), await person(a, 'Eve', { title: 'Dr' })])
    await ship(a, b)
    await a.merge(small, large)
    await ship(a, b)
    expect(b.survivorOf(large)).toBe(small)
    const atB = (await b.get(small))!
    expect(atB.merged).toEqual([large])
    expect(atB.fields.title).toBe('Dr')
    expect(atB.fields).toEqual((await a.get(small))!.fields)
    await a.close()
    await b.close()
  })

  it('is learned by an instance that held neither object, from whole documents', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const c = await openStore(new MemoryStorage(), instance('c'))
    const [small, large] = sorted([await person(a, 'Ida'), await person(a, 'Ida', { title: 'Ms' })])
    await a.merge(small, large)
    // A first sync: every stored facet, whole, in one batch.
    const facets = [...new Set((await a.readFeed(0, 1000)).map((entry) => entry.facet))]
    const items = await Promise.all(
      facets.map(async (facet) => [facet, (await a.getFacetBytes(facet))!] as const),
    )
    const results = await c.applyRemoteDocuments(items, undefined, 'a' as InstanceId)
    expect(results.every((result) => !(result instanceof Error))).toBe(true)
    expect(c.survivorOf(large)).toBe(small)
    expect((await c.get(small))!.fields.title).toBe('Ms')
    expect((await c.list('person', {})).items.map((item) => item.id)).toEqual([small])
    await a.close()
    await c.close()
  })

  it('joins concurrent merges of one object into two others, on both sides alike', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const [x, y, z] = sorted([
      await person(a, 'Ola'),
      await person(a, 'Ola'),
      await person(a, 'Ola'),
    ])
    await ship(a, b)
    // Offline, A finds z is y, and B finds z is x.
    await a.merge(z, y)
    await b.merge(z, x)
    await ship(a, b)
    await ship(b, a)
    for (const store of [a, b]) {
      expect([x, y, z].map((id) => store.survivorOf(id))).toEqual([x, x, x])
      expect((await store.get(x))!.merged).toEqual([y, z])
    }
    await a.close()
    await b.close()
  })

  // Regression (review): a peer's change to a custom facet cleared the merge index.
  it('keeps a merge when the merged object has custom fields, or one of them changes', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const make = async () =>
      (
        await a.create({
          type: 'person',
          fields: { firstName: 'Ask', lastName: 'Dal' },
          custom: { level: 'gold' },
        })
      ).id
    const [small, large] = sorted([await make(), await make()])
    await a.merge(small, large)
    await a.update(large, { custom: { level: 'silver' } })
    await ship(a, b)
    expect(b.survivorOf(large)).toBe(small)
    expect(a.survivorOf(large)).toBe(small)
    await a.close()
    await b.close()
  })

  // Regression (review): two merges of one object at once; the second overwrote the first.
  it('two merges of one object at once both hold', async () => {
    const store = await openStore(new MemoryStorage(), instance('a'))
    const [x, y, z] = sorted([
      await person(store, 'Bo'),
      await person(store, 'Bo'),
      await person(store, 'Bo'),
    ])
    await Promise.all([store.merge(z, y), store.merge(z, x)])
    expect([x, y, z].map((id) => store.survivorOf(id))).toEqual([x, x, x])
    await store.close()
  })

  it('resolves a chain of merges to the smallest id', async () => {
    const store = await openStore(new MemoryStorage(), instance('a'))
    const [p, q, r] = sorted([
      await person(store, 'Kim'),
      await person(store, 'Kim'),
      await person(store, 'Kim'),
    ])
    await store.merge(q, r)
    await store.merge(p, q)
    expect([p, q, r].map((id) => store.survivorOf(id))).toEqual([p, p, p])
    expect((await store.get(r))!.mergedInto).toBe(p)
    await store.close()
  })

  it('undoes a merge on every instance, each object with the fields it had', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const [small, large] = sorted([
      await person(a, 'Liv', { email: 'liv@example.org' }),
      await person(a, 'Liv', { phone: '555' }),
    ])
    await ship(a, b)
    await a.merge(small, large)
    await ship(a, b)
    expect(await b.unmerge(large)).toBe(small)
    await ship(b, a)
    for (const store of [a, b]) {
      expect(store.survivorOf(large)).toBe(large)
      const [one, two] = [(await store.get(small))!, (await store.get(large))!]
      expect(one.merged).toBeUndefined()
      expect(two.mergedInto).toBeUndefined()
      expect(Object.keys(one.fields).sort()).toEqual(
        small < large && one.fields.email !== undefined
          ? ['email', 'firstName', 'lastName']
          : ['firstName', 'lastName', 'phone'],
      )
      expect((await store.list('person', {})).items).toHaveLength(2)
    }
    await a.close()
    await b.close()
  })

  it('keeps what it knows of merges across a restart', async () => {
    const dir = join(tempDir('merges'), 'store')
    const first = await openStore(new LevelStorage(dir), instance('a'))
    const [small, large] = sorted([await person(first, 'Tor'), await person(first, 'Tor')])
    await first.merge(small, large)
    await first.close()
    const again = await openStore(new LevelStorage(dir), instance('a'))
    expect(again.survivorOf(large)).toBe(small)
    expect((await again.get(small))!.merged).toEqual([large])
    await again.close()
  })

  it('refuses a merge a peer sends that does not name a smaller object id, storing nothing', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const [small, large] = sorted([await person(a, 'Mia'), await person(a, 'Mia')])
    await ship(a, b)
    const facet = `${small}/core` as FacetId
    const forged = A.change(A.load<FacetDoc>((await a.getFacetBytes(facet))!), (doc) => {
      doc.mergedInto = new A.ImmutableString(large)
    })
    const heads = (await b.getHeads(facet))!
    const before = b.lastSeq
    await expect(
      b.applyRemoteChanges(facet, A.getChangesSince(forged, heads)),
    ).rejects.toMatchObject({
      code: 'INVALID_CHANGES',
      message: expect.stringContaining('smaller'),
    })
    expect(b.lastSeq).toBe(before)
    expect(b.survivorOf(small)).toBe(small)
    expect((await b.get(small))!.mergedInto).toBeUndefined()
    A.free(forged)
    await a.close()
    await b.close()
  })

  it('refuses a merge a peer sends into an object of another type, storing nothing', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const org = (await a.create({ type: 'organization', fields: { name: 'Acme' } })).id
    // Ids of one millisecond sort at random: the person's must be the larger.
    await new Promise((resolve) => setTimeout(resolve, 5))
    const someone = await person(a, 'Rut')
    await ship(a, b)
    const facet = `${someone}/core` as FacetId
    const forged = A.change(A.load<FacetDoc>((await a.getFacetBytes(facet))!), (doc) => {
      doc.mergedInto = new A.ImmutableString(org)
    })
    const before = b.lastSeq
    await expect(
      b.applyRemoteChanges(facet, A.getChangesSince(forged, (await b.getHeads(facet))!)),
    ).rejects.toMatchObject({
      code: 'INVALID_CHANGES',
      message: expect.stringContaining('organization'),
    })
    expect(b.lastSeq).toBe(before)
    expect(b.survivorOf(someone)).toBe(someone)
    A.free(forged)
    await a.close()
    await b.close()
  })
})
