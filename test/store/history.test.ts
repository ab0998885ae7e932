// An object's history, read from its documents: the same on every instance that holds it,
// whatever order the changes arrived in, with creates, edits, custom fields by group,
// deletes, restores, merges and unmerges; paged by cursor.
import { describe, expect, it } from 'vitest'
import type { InstanceId, ObjectId } from '../../src/model/index.ts'
import { createIdentity } from '../../src/net/index.ts'
import {
  LevelStorage,
  MemoryStorage,
  type ObjectStore,
  type StorageAdapter,
} from '../../src/store/index.ts'
import { MAX_VIEWED_CHANGES } from '../../src/store/facet-doc/history.ts'
import { openStore, ship, tempDir } from '../helpers/stores.ts'
import { join } from 'node:path'

/** A store whose clock is set by the test, so every stamp is known. */
async function clockedStore(name: string, storage: StorageAdapter = new MemoryStorage()) {
  const clock = { now: 1_700_000_000_000 }
  const store = await openStore(storage, {
    instanceId: name as InstanceId,
    clock: () => clock.now,
    customFieldGroups: { donor: ['donorNumber'] },
  })
  return { store, clock }
}

/** Two instances, each with its clock, holding one person A made. */
async function personAtBoth(firstName: string, lastName: string) {
  const a = await clockedStore('instance-a')
  const b = await clockedStore('instance-b')
  const { id } = await a.store.create({ type: 'person', fields: { firstName, lastName } })
  await ship(a.store, b.store)
  return { a, b, id }
}

const summary = (store: ObjectStore, id: ObjectId) =>
  store.history(id).then((page) =>
    page.entries.map((entry) => ({
      at: entry.at,
      by: entry.by,
      change: entry.change,
      fields: entry.fields,
      custom: entry.custom,
      ...(entry.object === undefined ? {} : { object: entry.object }),
      ...(entry.into === undefined ? {} : { into: entry.into }),
    })),
  )

describe('object history', () => {
  it('reads the same at both instances: the create by one, the edit by the other', async () => {
    const a = await clockedStore('instance-a')
    const b = await clockedStore('instance-b')
    const created = await a.store.create({
      type: 'person',
      fields: { firstName: 'Anna', lastName: 'Larsen' },
      custom: { donorNumber: 'D-1', shoeSize: '38' },
    })
    await ship(a.store, b.store)
    b.clock.now += 5_000
    await b.store.update(created.id, {
      fields: { lastName: 'Berg', email: 'anna@example.org' },
      custom: { donorNumber: 'D-2' },
    })
    await ship(b.store, a.store)

    const expected = [
      {
        at: 1_700_000_000_000,
        by: 'instance-a',
        change: 'create',
        fields: {
          firstName: { from: null, to: 'Anna' },
          lastName: { from: null, to: 'Larsen' },
        },
        custom: {
          donor: { donorNumber: { from: null, to: 'D-1' } },
          other: { shoeSize: { from: null, to: '38' } },
        },
      },
      {
        at: 1_700_000_005_000,
        by: 'instance-b',
        change: 'edit',
        fields: {
          email: { from: null, to: 'anna@example.org' },
          lastName: { from: 'Larsen', to: 'Berg' },
        },
        custom: { donor: { donorNumber: { from: 'D-1', to: 'D-2' } } },
      },
    ]
    expect(await summary(a.store, created.id)).toEqual(expected)
    expect(await summary(b.store, created.id)).toEqual(expected)
    // The ids are the changes' hashes: the same on both instances.
    expect((await a.store.history(created.id)).entries.map((entry) => entry.id)).toEqual(
      (await b.store.history(created.id)).entries.map((entry) => entry.id),
    )
  })

  it('orders concurrent edits the same way on both sides, each with what its writer saw', async () => {
    const { a, b, id } = await personAtBoth('Ola', 'Nordmann')
    // B's clock is behind: its edit is stamped earlier than A's, though made later.
    a.clock.now += 10_000
    b.clock.now += 3_000
    const seqA = (await a.store.readFeed(0, 100)).at(-1)!.seq
    const seqB = (await b.store.readFeed(0, 100)).at(-1)!.seq
    await a.store.update(id, { fields: { firstName: 'Ole' } })
    await b.store.update(id, { fields: { firstName: 'Olav' } })
    await ship(a.store, b.store, seqA)
    await ship(b.store, a.store, seqB)
    const atA = await summary(a.store, id)
    expect(atA).toEqual(await summary(b.store, id))
    expect(atA.map((entry) => [entry.by, entry.change, entry.fields.firstName])).toEqual([
      ['instance-a', 'create', { from: null, to: 'Ola' }],
      ['instance-b', 'edit', { from: 'Ola', to: 'Olav' }],
      ['instance-a', 'edit', { from: 'Ola', to: 'Ole' }],
    ])
  })

  it('shows deletes, restores, merges into it and unmerges, after a restart too', async () => {
    const storage = new LevelStorage(join(tempDir('history'), 'store'))
    let { store, clock } = await clockedStore('instance-a', storage)
    const b = await clockedStore('instance-b')
    const first = (
      await store.create({ type: 'person', fields: { firstName: 'Kari', lastName: 'Holm' } })
    ).id
    clock.now += 1_000
    const second = (
      await store.create({ type: 'person', fields: { firstName: 'Kari', lastName: 'Holm' } })
    ).id
    await ship(store, b.store)
    // A deletes the first while B edits it: the delete conflict is settled by restoring.
    const seqA = (await store.readFeed(0, 100)).at(-1)!.seq
    clock.now += 1_000
    b.clock.now = clock.now - 500
    await store.delete(first)
    await b.store.update(first, { fields: { phone: '+47 1' } })
    await ship(store, b.store, seqA)
    await ship(b.store, store)
    const deletion = (await store.listConflicts()).find((entry) => entry.field === 'deleted')!
    const keepEdit = [deletion.winner, ...deletion.losers].find((value) => value.value !== true)!
    clock.now += 1_000
    await store.resolveConflict(first, 'deleted', { by: keepEdit.by, at: keepEdit.at })
    clock.now += 1_000
    const [small, large] = [first, second].sort() as [ObjectId, ObjectId]
    await store.merge(large, small)
    const mergedAt = clock.now
    await store.close()
    ;({ store, clock } = await clockedStore('instance-a', storage))

    const onFirst = small === first ? 'itself' : large
    const onSecond = small === first ? large : 'itself'
    const survivor = await summary(store, small)
    expect(survivor.map((entry) => [entry.change, entry.by, entry.object ?? 'itself'])).toEqual([
      ['create', 'instance-a', onFirst],
      ['create', 'instance-a', onSecond],
      ['edit', 'instance-b', onFirst],
      ['delete', 'instance-a', onFirst],
      ['restore', 'instance-a', onFirst],
      ['merge', 'instance-a', large],
    ])
    expect(survivor.at(-1)).toMatchObject({ into: small, at: mergedAt })

    // The restarted store's clock is behind the merge: the unmerge still comes after it.
    await store.unmerge(large)
    const merged = await summary(store, large)
    expect(merged.at(-1)).toMatchObject({ change: 'unmerge', into: small, by: 'instance-a' })
    expect(merged.at(-2)).toMatchObject({ change: 'merge', into: small })
    // Standing alone again, the survivor no longer shows the other's history.
    expect((await summary(store, small)).every((entry) => entry.object === undefined)).toBe(true)
    await store.close()
    await b.store.close()
  })

  it('places a custom field added on a clock that is behind after the create it was made on', async () => {
    const { b, id } = await personAtBoth('Siv', 'Aas')
    b.clock.now -= 5_000
    await b.store.update(id, { custom: { donorNumber: 'D-9' } })
    const entries = (await b.store.history(id)).entries
    expect(entries.map((entry) => [entry.change, entry.by])).toEqual([
      ['create', 'instance-a'],
      ['edit', 'instance-b'],
    ])
    expect(entries[1]!.at).toBeLessThan(entries[0]!.at)
  })

  it('reads at most the latest changes of a history that is not a line, saying how many it left', async () => {
    const { a, b, id } = await personAtBoth('Ask', 'Li')
    const seqB = (await b.store.readFeed(0, 100)).at(-1)!.seq
    await b.store.update(id, { fields: { title: 'concurrent' } })
    for (let edit = 0; edit < 300; edit++) {
      a.clock.now += 1_000
      await a.store.update(id, { fields: { phone: String(edit) } })
    }
    await ship(b.store, a.store, seqB)
    const page = await a.store.history(id, { limit: 1000 })
    // 1 create + 300 edits at A + 1 at B, of which the latest MAX_VIEWED_CHANGES are read.
    expect(page.omitted).toBe(302 - MAX_VIEWED_CHANGES)
    expect(page.entries).toHaveLength(MAX_VIEWED_CHANGES)
    expect(page.entries.at(-1)!.fields.phone).toEqual({ from: '298', to: '299' })
  })

  it('reads the same latest changes on both sides of many concurrent edits', async () => {
    const { a, b, id } = await personAtBoth('Bo', 'Ek')
    const [seqA, seqB] = [
      (await a.store.readFeed(0, 100)).at(-1)!.seq,
      (await b.store.readFeed(0, 100)).at(-1)!.seq,
    ]
    for (let edit = 0; edit < 200; edit++) {
      a.clock.now += 1_000
      b.clock.now += 1_000
      await a.store.update(id, { fields: { phone: `a${edit}` } })
      await b.store.update(id, { fields: { title: `b${edit}` } })
    }
    await ship(a.store, b.store, seqA)
    await ship(b.store, a.store, seqB)
    const [atA, atB] = [
      await a.store.history(id, { limit: 1000 }),
      await b.store.history(id, { limit: 1000 }),
    ]
    expect(atA.omitted).toBe(401 - MAX_VIEWED_CHANGES)
    expect(atA.entries.map((entry) => entry.id)).toEqual(atB.entries.map((entry) => entry.id))
    // The latest: each side's last 128 edits (a clock 1 s apart: the times interleave).
    const written = atA.entries.map((entry) => `${Object.values(entry.fields)[0]?.to as string}`)
    expect(written.filter((value) => value.startsWith('a'))).toHaveLength(128)
    expect(written.at(-1)).toMatch(/^[ab]199$/)
  })

  it('says whether a proof backs the writer a change names: a forged stamp is not verified', async () => {
    const north = await createIdentity()
    const clock = { now: 1_700_000_000_000 }
    const a = await openStore(new MemoryStorage(), {
      instanceId: north.id,
      identityKey: north.privateKey,
      clock: () => clock.now,
    })
    // A peer that writes North's id into its stamps, without North's key.
    const forger = await openStore(new MemoryStorage(), {
      instanceId: north.id,
      clock: () => clock.now,
    })
    const { id } = await a.create({ type: 'person', fields: { firstName: 'Eli', lastName: 'Vik' } })
    await ship(a, forger)
    const [seqA, seq] = [
      (await a.readFeed(0, 100)).at(-1)!.seq,
      (await forger.readFeed(0, 100)).at(-1)!.seq,
    ]
    clock.now += 1_000
    await forger.update(id, { fields: { lastName: 'Forged' } })
    // Forged beside a real edit, at its very time: read as one write, which is not proven.
    clock.now += 1_000
    await a.update(id, { fields: { title: 'Real' } })
    await forger.update(id, { custom: { shoeSize: '44' } })
    await ship(forger, a, seq)
    await ship(a, forger, seqA)
    const { entries } = await a.history(id)
    expect(entries.map((entry) => [entry.change, entry.by, entry.verified])).toEqual([
      ['create', north.id, true],
      ['edit', north.id, false],
      ['edit', north.id, false],
    ])
    expect(entries[2]).toMatchObject({
      fields: { title: { to: 'Real' } },
      custom: { other: { shoeSize: { to: '44' } } },
    })
    await Promise.all([a.close(), forger.close()])
  })

  it('pages from the latest back by cursor, and refuses a bad cursor or limit', async () => {
    const { store, clock } = await clockedStore('instance-a')
    const { id } = await store.create({
      type: 'person',
      fields: { firstName: 'P0', lastName: 'Dahl' },
    })
    for (let edit = 1; edit <= 6; edit++) {
      clock.now += 1_000
      await store.update(id, { fields: { firstName: `P${edit}` } })
    }
    const names = (page: { entries: { fields: Record<string, { to: unknown }> }[] }) =>
      page.entries.map((entry) => entry.fields.firstName!.to)
    const latest = await store.history(id, { limit: 3 })
    expect(names(latest)).toEqual(['P4', 'P5', 'P6'])
    const older = await store.history(id, { limit: 3, before: latest.next! })
    expect(names(older)).toEqual(['P1', 'P2', 'P3'])
    const oldest = await store.history(id, { limit: 3, before: older.next! })
    expect(names(oldest)).toEqual(['P0'])
    expect(oldest.next).toBeNull()

    await expect(store.history(id, { before: 'nope' })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
    })
    await expect(store.history(id, { limit: 0 })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
    })
    await expect(store.history('01J00000000000000000000000' as ObjectId)).rejects.toMatchObject({
      code: 'OBJECT_NOT_FOUND',
    })
    await expect(store.history('../etc' as ObjectId)).rejects.toMatchObject({
      code: 'OBJECT_NOT_FOUND',
    })
    await store.close()
  })
})
