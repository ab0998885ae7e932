import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import * as A from '@automerge/automerge'
import type { FacetId, InstanceId } from '../../src/model/index.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { createIdentity } from '../../src/net/index.ts'
import { anna, openStore } from '../helpers/stores.ts'

async function ship(from: ObjectStore, to: ObjectStore): Promise<void> {
  for (const entry of await from.readFeed(0, 100_000)) {
    const bytes = await from.getFacetBytes(entry.facet)
    if (bytes !== undefined) await to.applyRemoteDocument(entry.facet, bytes)
  }
}

/** Two instances that share an object, with clocks the test sets. */
async function pair() {
  const clocks = { a: 1_000, b: 1_000 }
  const a = await openStore(new MemoryStorage(), {
    instanceId: 'instance-a' as InstanceId,
    clock: () => clocks.a,
  })
  const b = await openStore(new MemoryStorage(), {
    instanceId: 'instance-b' as InstanceId,
    clock: () => clocks.b,
  })
  const created = await a.create({ type: 'person', fields: anna, custom: { level: 'gold' } })
  await ship(a, b)
  return { a, b, clocks, id: created.id }
}

describe('conflicts: the later edit by wall clock wins, everywhere', () => {
  for (const order of ['a then b', 'b then a']) {
    it(`same field edited on both sides (merged ${order}): the later write shows on both`, async () => {
      const { a, b, clocks, id } = await pair()
      clocks.a = 5_000
      await a.update(id, { fields: { title: 'written later at a' } })
      clocks.b = 3_000
      await b.update(id, { fields: { title: 'written earlier at b' } })
      if (order === 'a then b') {
        await ship(a, b)
        await ship(b, a)
      } else {
        await ship(b, a)
        await ship(a, b)
      }
      for (const store of [a, b]) {
        const object = (await store.get(id))!
        expect(object.fields.title).toBe('written later at a')
        expect(object.written.title).toEqual({ by: 'instance-a', at: 5_000 })
        expect(object.conflicts).toEqual(['title'])
      }
      expect(await b.listConflicts()).toEqual([
        {
          object: id,
          type: 'person',
          field: 'title',
          winner: { value: 'written later at a', by: 'instance-a', at: 5_000 },
          losers: [{ value: 'written earlier at b', by: 'instance-b', at: 3_000 }],
        },
      ])
    })
  }

  it('restoring the losing value makes it the value everywhere and empties the inbox', async () => {
    const { a, b, clocks, id } = await pair()
    clocks.a = 5_000
    await a.update(id, { custom: { level: 'platinum' } })
    clocks.b = 4_000
    await b.update(id, { custom: { level: 'silver' } })
    await ship(a, b)
    await ship(b, a)
    expect((await b.get(id))!.custom.level).toBe('platinum')
    clocks.b = 6_000
    const restored = await b.resolveConflict(id, 'custom.level', { by: 'instance-b', at: 4_000 })
    expect(restored.custom.level).toBe('silver')
    expect(restored.conflicts).toEqual([])
    expect(await b.listConflicts()).toEqual([])
    await ship(b, a)
    expect((await a.get(id))!.custom.level).toBe('silver')
    expect(await a.listConflicts()).toEqual([])
  })

  it('keeping the shown value also settles the conflict', async () => {
    const { a, b, clocks, id } = await pair()
    clocks.a = 2_000
    await a.update(id, { fields: { phone: '1' } })
    clocks.b = 3_000
    await b.update(id, { fields: { phone: '2' } })
    await ship(a, b)
    const kept = await b.resolveConflict(id, 'phone', { by: 'instance-b', at: 3_000 })
    expect(kept.fields.phone).toBe('2')
    expect(kept.conflicts).toEqual([])
  })

  it('a later clear beats an earlier edit, and the edit can be restored', async () => {
    const { a, b, clocks, id } = await pair()
    clocks.a = 9_000
    await a.update(id, { fields: { email: null } })
    clocks.b = 7_000
    await b.update(id, { fields: { email: 'new@example.org' } })
    await ship(a, b)
    await ship(b, a)
    expect((await a.get(id))!.fields.email).toBeUndefined()
    expect((await b.get(id))!.fields.email).toBeUndefined()
    const [conflict] = await a.listConflicts()
    expect(conflict).toMatchObject({
      field: 'email',
      winner: { value: undefined, by: 'instance-a' },
    })
    const restored = await a.resolveConflict(id, 'email', { by: 'instance-b', at: 7_000 })
    expect(restored.fields.email).toBe('new@example.org')
  })

  it('refuses to resolve a conflict that is not there, changing nothing', async () => {
    const { a, id } = await pair()
    const seq = a.lastSeq
    const error = await a.resolveConflict(id, 'title', { by: 'nobody', at: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isObjectSyncError(error, 'CONFLICT_NOT_FOUND')).toBe(true)
    expect(a.lastSeq).toBe(seq)
  })

  it('edits of different fields are no conflict', async () => {
    const { a, b, clocks, id } = await pair()
    clocks.a = 2_000
    await a.update(id, { fields: { title: 'T' } })
    clocks.b = 3_000
    await b.update(id, { fields: { phone: 'P' } })
    await ship(a, b)
    await ship(b, a)
    expect((await a.get(id))!.conflicts).toEqual([])
    expect(await a.listConflicts()).toEqual([])
    expect((await a.get(id))!.fields).toMatchObject({ title: 'T', phone: 'P' })
  })
})

describe('a source of truth for a field', () => {
  /**
   * Finance (the source of truth for transaction.amount) and an office, each signing its
   * changes with its identity key as the daemon does, and a transaction both hold.
   * `impostor` opens a third store that stamps its writes as finance's (`instanceId`)
   * but signs them with its own key (`signedAs: 'own'`) or not at all.
   */
  async function financeAndOffice() {
    const financeId = await createIdentity()
    const officeId = await createIdentity()
    const sourcesOfTruth = { 'transaction.amount': financeId.id }
    const clocks = { finance: 1_000, office: 1_000, impostor: 1_000 }
    const finance = await openStore(new MemoryStorage(), {
      instanceId: financeId.id,
      identityKey: financeId.privateKey,
      clock: () => clocks.finance,
      sourcesOfTruth,
    })
    const office = await openStore(new MemoryStorage(), {
      instanceId: officeId.id,
      identityKey: officeId.privateKey,
      clock: () => clocks.office,
      sourcesOfTruth,
    })
    const impostor = async (signedAs: 'own' | 'unsigned') => {
      const own = await createIdentity()
      return openStore(new MemoryStorage(), {
        instanceId: financeId.id,
        ...(signedAs === 'own' ? { identityKey: own.privateKey } : {}),
        clock: () => clocks.impostor,
        sourcesOfTruth,
      })
    }
    const created = await office.create({
      type: 'transaction',
      fields: { type: 'donation', date: '2026-01-31', amount: '100.00', description: 'x' },
    })
    await ship(office, finance)
    return { finance, office, impostor, clocks, id: created.id, financeId: financeId.id }
  }

  /** Finance writes amount at 2,000 ms, the office at 9,000 ms; both ship both ways. */
  async function bothEditAmount(description?: { finance: string; office: string }) {
    const made = await financeAndOffice()
    const { finance, office, clocks, id } = made
    clocks.finance = 2_000
    const extra = (who: 'finance' | 'office') =>
      description === undefined ? {} : { description: description[who] }
    await finance.update(id, { fields: { amount: '120.00', ...extra('finance') } })
    clocks.office = 9_000
    await office.update(id, { fields: { amount: '999.00', ...extra('office') } })
    await ship(finance, office)
    await ship(office, finance)
    return made
  }

  it('wins conflicts on that field whatever the clocks say, on every instance', async () => {
    const { finance, office, id } = await bothEditAmount({
      finance: 'from finance',
      office: 'from office',
    })
    for (const store of [finance, office]) {
      const object = (await store.get(id))!
      expect(object.fields.amount).toBe('120.00')
      // Other fields: the later edit.
      expect(object.fields.description).toBe('from office')
      expect(object.conflicts.sort()).toEqual(['amount', 'description'])
    }
  })

  for (const signedAs of ['own', 'unsigned'] as const) {
    it(`does not win for a peer that only stamps its writes as the source's (${signedAs === 'own' ? 'signed with its own key' : 'unsigned'})`, async () => {
      const { finance, office, impostor, clocks, id, financeId } = await financeAndOffice()
      const forger = await impostor(signedAs)
      await ship(office, forger)
      clocks.finance = 2_000
      await finance.update(id, { fields: { amount: '120.00' } })
      // Later, and stamped as finance: without proofs it would win as finance's.
      clocks.impostor = 9_000
      await forger.update(id, { fields: { amount: '999.00' } })
      const forged = (await forger.get(id))!.written.amount!
      expect(forged.by).toBe(financeId)
      for (const store of [finance, office]) {
        await ship(forger, store)
        await ship(finance, store)
        const object = (await store.get(id))!
        expect(object.fields.amount).toBe('120.00')
        expect(object.written.amount).toEqual({ by: financeId, at: 2_000 })
      }
    })
  }

  for (const replaced of ['value', 'delete'] as const) {
    it(`does not count a ${replaced} a peer wrote under the source's actor as the source's`, async () => {
      const { office, id, financeId } = await bothEditAmount()
      // An unsigned change under finance's Automerge actor that replaces finance's value
      // of amount (or deletes it) and leaves the signed stamp as it is.
      const facet = `${id}/core` as FacetId
      const changes = (await office.getChangesSince(facet, []))!
      const [doc] = A.applyChanges(A.init<Record<string, unknown>>(), changes)
      const fieldsObject = A.getObjectId(doc, 'fields')!
      const stamp = A.getBackend(doc)
        .getAll(A.getObjectId(doc, 'meta')!, 'amount')
        .find((entry) => String(entry[1]).endsWith(financeId))!
      const actor = String(stamp[2]).slice(String(stamp[2]).indexOf('@') + 1)
      const value = A.getBackend(doc)
        .getAll(fieldsObject, 'amount')
        .find((entry) => String(entry[2]).endsWith(actor))!
      const decoded = changes.map((change) => A.decodeChange(change))
      const forged = A.encodeChange({
        actor,
        seq: Math.max(...decoded.filter((change) => change.actor === actor).map((c) => c.seq)) + 1,
        startOp: Math.max(...decoded.map((change) => change.startOp + change.ops.length)),
        time: 3,
        message: null,
        deps: A.getHeads(doc),
        ops: [
          replaced === 'value'
            ? {
                action: 'set',
                obj: fieldsObject,
                key: 'amount',
                value: '666.00',
                pred: [String(value[2])],
              }
            : { action: 'del', obj: fieldsObject, key: 'amount', pred: [String(value[2])] },
        ],
      } as unknown as A.DecodedChange)
      await office.applyRemoteChanges(facet, [forged])
      const object = (await office.get(id))!
      // Finance's value as its signed change wrote it still wins.
      expect(object.fields.amount).toBe('120.00')
      expect(object.written.amount).toEqual({ by: financeId, at: 2_000 })
    })
  }

  it('counts a forged claim as no one: against an ordinary write, the later wins', async () => {
    const { office, impostor, clocks, id } = await financeAndOffice()
    const forger = await impostor('own')
    await ship(office, forger)
    clocks.impostor = 2_000
    await forger.update(id, { fields: { amount: '999.00' } })
    clocks.office = 3_000
    await office.update(id, { fields: { amount: '130.00' } })
    await ship(forger, office)
    await ship(office, forger)
    for (const store of [office, forger]) {
      expect((await store.get(id))!.fields.amount).toBe('130.00')
    }
  })
})

describe('sources of truth from peers.json', () => {
  it('maps self, peer and instance ids, and warns about what it cannot use', async () => {
    const { sourcesOfTruth } = await import('../../src/sync/index.ts')
    const { sources, warnings } = sourcesOfTruth(
      [
        {
          id: 'p1' as InstanceId,
          conflicts: { fields: { 'transaction.amount': 'self', 'person.custom.level': 'peer' } },
        },
        {
          id: 'p2' as InstanceId,
          conflicts: {
            default: 'earlier-wins',
            fields: { 'transaction.amount': 'peer', amount: 'self', 'person.email': 3 },
          },
        },
      ],
      'me' as InstanceId,
    )
    expect(sources).toEqual({ 'transaction.amount': 'me', 'person.custom.level': 'p1' })
    expect(warnings).toEqual([
      'peers[1].conflicts.default: only "later-wins" is supported; using it',
      'peers[1].conflicts.fields.transaction.amount: another peer entry already names me; keeping that',
      'peers[1].conflicts.fields.amount: expected "type.field" or "type.custom.name"; ignored',
      'peers[1].conflicts.fields.person.email: expected "self", "peer" or an instance id; ignored',
    ])
  })
})

describe('delete against edit', () => {
  it('a delete concurrent with an edit is a conflict on both sides; restoring brings the object back everywhere', async () => {
    const { a, b, clocks, id } = await pair()
    clocks.a = 2_000
    await a.delete(id)
    clocks.b = 3_000
    await b.update(id, { fields: { title: 'edited while deleted elsewhere' } })
    await ship(a, b)
    await ship(b, a)
    for (const store of [a, b]) {
      expect((await store.get(id))!.deleted).toBe(true)
      expect(await store.listConflicts()).toEqual([
        {
          object: id,
          type: 'person',
          field: 'deleted',
          winner: { value: true, by: 'instance-a', at: 2_000 },
          losers: [{ value: false, by: 'instance-b', at: 3_000 }],
        },
      ])
    }
    clocks.b = 4_000
    const restored = await b.resolveConflict(id, 'deleted', { by: 'instance-b', at: 3_000 })
    expect(restored.deleted).toBe(false)
    expect(restored.fields.title).toBe('edited while deleted elsewhere')
    expect(await b.listConflicts()).toEqual([])
    await ship(b, a)
    expect((await a.get(id))!.deleted).toBe(false)
    // The restore settled it for everyone: a's inbox empties too.
    expect(await a.listConflicts()).toEqual([])
  })

  it('keeping the delete dismisses the conflict', async () => {
    const { a, b, clocks, id } = await pair()
    clocks.a = 2_000
    await a.delete(id)
    clocks.b = 3_000
    await b.update(id, { fields: { title: 'x' } })
    await ship(b, a)
    const kept = await a.resolveConflict(id, 'deleted', { by: 'instance-a', at: 2_000 })
    expect(kept.deleted).toBe(true)
    expect(await a.listConflicts()).toEqual([])
  })

  it('a delete made after seeing the edit is no conflict', async () => {
    const { a, b, clocks, id } = await pair()
    clocks.b = 2_000
    await b.update(id, { fields: { title: 'seen' } })
    await ship(b, a)
    clocks.a = 3_000
    await a.delete(id)
    await ship(a, b)
    expect((await b.get(id))!.deleted).toBe(true)
    expect(await b.listConflicts()).toEqual([])
    expect(await a.listConflicts()).toEqual([])
  })
})
