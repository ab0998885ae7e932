import * as A from '@automerge/automerge'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { MemoryStorage } from '../../src/store/index.ts'
import type { FacetDoc } from '../../src/store/facet-doc.ts'
import { anna, openStore, ship } from '../helpers/stores.ts'

const instance = (name: string) => ({ instanceId: name as InstanceId })

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error,
  )
}

describe('applyRemoteChanges', () => {
  it('brings a new object over, reports what changed, and ignores duplicates', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const created = await a.create({ type: 'person', fields: anna, custom: { level: 'gold' } })
    await ship(a, b)
    expect(await b.get(created.id)).toEqual(await a.get(created.id))
    const feedAfterFirst = await b.readFeed(0)
    expect(feedAfterFirst.map((entry) => entry.facet).sort()).toEqual([
      `${created.id}/core`,
      `${created.id}/custom:other`,
    ])

    const facet = `${created.id}/core` as FacetId
    const again = await b.applyRemoteChanges(facet, (await a.getChangesSince(facet, []))!)
    expect(again.changed).toBe(false)
    expect(again.fields).toEqual([])
    expect(b.lastSeq).toBe(feedAfterFirst.length)

    const heads = (await b.getHeads(facet))!
    await a.update(created.id, { fields: { title: 'Dr', email: null } })
    const result = await b.applyRemoteChanges(facet, (await a.getChangesSince(facet, heads))!)
    expect(result).toMatchObject({ changed: true, fields: ['email', 'title'], type: 'person' })
    expect((await b.get(created.id))?.fields).toEqual({
      firstName: 'Anna',
      lastName: 'Larsen',
      title: 'Dr',
    })
    expect((await b.get(created.id))?.written.title?.by).toBe('a')
  })

  it('keeps concurrent edits of different fields from both sides', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const created = await a.create({ type: 'person', fields: anna })
    await ship(a, b)
    const seqA = a.lastSeq
    const seqB = b.lastSeq
    await a.update(created.id, { fields: { title: 'Treasurer' } })
    await b.update(created.id, { fields: { phone: '+47 1234' } })
    await ship(a, b, seqA)
    await ship(b, a, seqB)
    const fromA = await a.get(created.id)
    expect(fromA?.fields).toMatchObject({ title: 'Treasurer', phone: '+47 1234' })
    expect(await b.get(created.id)).toEqual(fromA)
  })

  it('regression: a custom facet created on two instances at once keeps both fields', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const created = await a.create({ type: 'person', fields: anna })
    await ship(a, b)
    const [seqA, seqB] = [a.lastSeq, b.lastSeq]
    await a.update(created.id, { custom: { from_a: 'A' } })
    await b.update(created.id, { custom: { from_b: 'B' } })
    await ship(a, b, seqA)
    await ship(b, a, seqB)
    expect((await a.get(created.id))?.custom).toEqual({ from_a: 'A', from_b: 'B' })
    expect((await b.get(created.id))?.custom).toEqual({ from_a: 'A', from_b: 'B' })
  })

  it('waits for missing dependencies without storing anything', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const created = await a.create({ type: 'person', fields: anna })
    const facet = `${created.id}/core` as FacetId
    const first = (await a.getHeads(facet))!
    await a.update(created.id, { fields: { title: 'Dr' } })
    const later = (await a.getChangesSince(facet, first))!
    const result = await b.applyRemoteChanges(facet, later)
    expect(result.changed).toBe(false)
    expect(result.missingDeps).toEqual(first)
    expect(b.lastSeq).toBe(0)
    expect(await b.get(created.id)).toBeUndefined()
  })

  it('refuses bytes that are not changes, storing nothing', async () => {
    const b = await openStore(new MemoryStorage(), instance('b'))
    const facet = '01ARZ3NDEKTSV4RRFFQ69G5FAV/core' as FacetId
    const error = await refusal(b.applyRemoteChanges(facet, [new Uint8Array([1, 2, 3, 4])]))
    expect(isObjectSyncError(error, 'INVALID_CHANGES')).toBe(true)
    expect((error as Error).message).toContain(facet)
    expect(b.lastSeq).toBe(0)
    expect(await b.get('01ARZ3NDEKTSV4RRFFQ69G5FAV' as ObjectId)).toBeUndefined()
    const badId = await refusal(b.applyRemoteChanges('../../etc' as FacetId, []))
    expect(isObjectSyncError(badId, 'INVALID_CHANGES')).toBe(true)
  })

  it('refuses documents of the wrong shape or type, storing nothing', async () => {
    const a = await openStore(new MemoryStorage(), instance('a'))
    const b = await openStore(new MemoryStorage(), instance('b'))
    const created = await b.create({ type: 'person', fields: anna })
    const seq = b.lastSeq

    const untyped = A.from<Record<string, unknown>>({ fields: { firstName: 'x' } })
    const noType = await refusal(
      b.applyRemoteChanges('01ARZ3NDEKTSV4RRFFQ69G5FAV/core' as FacetId, A.getAllChanges(untyped)),
    )
    expect((noType as Error).message).toContain('names no known object type')

    const org = await a.create({ type: 'organization', fields: { name: 'Acme' } })
    const orgChanges = (await a.getChangesSince(`${org.id}/core` as FacetId, []))!
    const wrongType = await refusal(
      b.applyRemoteChanges(`${created.id}/core` as FacetId, orgChanges),
    )
    // Both grew from a genesis change of the same actor and sequence but other content.
    expect(isObjectSyncError(wrongType, 'INVALID_CHANGES')).toBe(true)
    expect((wrongType as Error).message).toContain(`${created.id}/core`)

    const rootless = A.from<Record<string, unknown>>({
      type: new A.ImmutableString('person'),
      fields: { firstName: new A.ImmutableString('x'), lastName: new A.ImmutableString('y') },
      meta: {},
    })
    const noGenesis = await refusal(
      b.applyRemoteChanges('01ARZ3NDEKTSV4RRFFQ69G5FAV/core' as FacetId, A.getAllChanges(rootless)),
    )
    expect((noGenesis as Error).message).toContain('does not grow from the person facet genesis')

    const valid = await a.create({ type: 'person', fields: anna })
    const validFacet = `${valid.id}/core` as FacetId
    let tampered = A.applyChanges(A.init<FacetDoc>(), (await a.getChangesSince(validFacet, []))!)[0]
    tampered = A.change(tampered, (draft) => {
      draft.fields.birthday = new A.ImmutableString('soon')
    })
    const badField = await refusal(b.applyRemoteChanges(validFacet, A.getAllChanges(tampered)))
    expect((badField as Error).message).toContain('person.fields.birthday')

    expect(b.lastSeq).toBe(seq)
    expect((await b.get(created.id))?.fields).toEqual(anna)
    expect((await b.list('person', { includeDeleted: true })).items).toHaveLength(1)
    expect((await b.list('organization')).items).toEqual([])
  })
})

// Property: whatever edits three instances make and in whatever order they exchange
// changes, once everyone has everything, every instance holds the same objects.
describe('convergence (property)', () => {
  const edit = fc.record({
    at: fc.integer({ min: 0, max: 2 }),
    object: fc.integer({ min: 0, max: 2 }),
    field: fc.constantFrom('title', 'phone', 'email'),
    value: fc.option(fc.constantFrom('a@x.org', 'b@y.org'), { nil: null }),
    remove: fc.boolean(),
  })
  const step = fc.oneof(
    edit.map((e) => ({ kind: 'edit' as const, ...e })),
    fc.record({ kind: fc.constant('ship' as const), from: fc.nat(2), to: fc.nat(2) }),
  )

  it('three instances converge after any interleaving of edits and exchanges', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 30 }), async (steps) => {
        const stores = await Promise.all(
          ['a', 'b', 'c'].map((name) => openStore(new MemoryStorage(), instance(name))),
        )
        const seed = stores[0]!
        const ids: ObjectId[] = []
        for (let i = 0; i < 3; i++) {
          ids.push(
            (await seed.create({ type: 'person', fields: { firstName: `P${i}`, lastName: 'L' } }))
              .id,
          )
        }
        for (const other of stores.slice(1)) await ship(seed, other)
        for (const s of steps) {
          if (s.kind === 'ship') {
            if (s.from !== s.to) await ship(stores[s.from]!, stores[s.to]!)
            continue
          }
          const store = stores[s.at]!
          const id = ids[s.object]!
          if (s.remove) await store.delete(id)
          else if ((await store.get(id))?.deleted === false) {
            const value = s.field === 'email' ? s.value : s.value === null ? null : `v-${s.at}`
            await store.update(id, { fields: { [s.field]: value } })
          }
        }
        for (const from of stores) for (const to of stores) if (from !== to) await ship(from, to)
        for (const id of ids) {
          const [first, ...rest] = await Promise.all(stores.map((store) => store.get(id)))
          for (const other of rest) {
            expect(other).toEqual(first)
          }
        }
        await Promise.all(stores.map((store) => store.close()))
      }),
      { numRuns: 40 },
    )
  })
})
