// A paired peer that misbehaves (issue 18). H1: write stamps no honest writer makes — a
// write time past what a Date holds made every read of its object throw, and a receiver
// whose scope reads objects died on it before its cursor moved, redialled, and died
// again. M2: what a peer sends us to refuse must not grow our log without a bound.
import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import { newObjectId, type FacetId, type InstanceId } from '../../src/model/index.ts'
import { ObjectSyncError } from '../../src/errors.ts'
import { MemoryStorage, ObjectStore, type AdmitsReference } from '../../src/store/index.ts'
import { scopeFromShare } from '../../src/sync/index.ts'
import { captureLogger } from '../helpers/capture-logger.ts'
import { eventually, pairNodes, syncNode } from '../helpers/sync-nodes.ts'

const BEYOND_DATES = 9e15

async function openStore(instanceId: string, clock?: () => number): Promise<ObjectStore> {
  const store = new ObjectStore({
    storage: new MemoryStorage(),
    instanceId: instanceId as InstanceId,
    ...(clock === undefined ? {} : { clock }),
  })
  await store.open()
  return store
}

/** The facet's document with one more change: `firstName` set, stamped `stamp`. */
function withStamp(bytes: Uint8Array, stamp: string): Uint8Array {
  const doc = A.load<{ fields: Record<string, unknown>; meta: Record<string, unknown> }>(bytes)
  return A.save(
    A.change(doc, (draft) => {
      draft.fields.firstName = 'Mallory'
      draft.meta.firstName = new A.ImmutableString(stamp)
    }),
  )
}

describe("a peer's write stamps", () => {
  it('are refused, with the reason, when they are no time or name no writer; the rest of the batch applies', async () => {
    const a = await openStore('a')
    const b = await openStore('b')
    const made = await a.create({ type: 'person', fields: { firstName: 'Anna', lastName: 'Berg' } })
    const other = await a.create({ type: 'person', fields: { firstName: 'Ole', lastName: 'Dahl' } })
    const facet = `${made.id}/core` as FacetId
    const honest = (await a.getFacetBytes(facet))!
    await b.applyRemoteDocuments([[facet, honest]], undefined, 'a' as InstanceId)

    const stamps = [
      `${BEYOND_DATES} a`,
      '-5 a',
      `${Date.now()} ${'x'.repeat(300)}`,
      `${Date.now()} `,
      // Only decimal digits, as stamps are written: not empty, hex, exponents or signs.
      ' a',
      '0x10 a',
      '1e3 a',
      '+5 a',
    ]
    for (const stamp of stamps) {
      const otherFacet = `${other.id}/core` as FacetId
      const [refused, applied] = await b.applyRemoteDocuments(
        [
          [facet, withStamp(honest, stamp)],
          [otherFacet, (await a.getFacetBytes(otherFacet))!],
        ],
        undefined,
        'a' as InstanceId,
      )
      expect(refused).toBeInstanceOf(Error)
      expect((refused as Error).message).toMatch(/meta\.firstName: .* is not a write stamp/)
      expect(applied).not.toBeInstanceOf(Error)
    }
    const kept = await b.get(made.id)
    expect(kept?.fields.firstName).toBe('Anna')
    expect((await b.list('person')).items).toHaveLength(2)
  })

  it('already stored (by a version before this check) are ignored where they are read', async () => {
    let now = Date.now()
    const store = await openStore('a', () => now)
    const made = await store.create({
      type: 'person',
      fields: { firstName: 'Anna', lastName: 'Berg' },
    })
    const peer = await openStore('b')
    const facet = `${made.id}/core` as FacetId
    await peer.applyRemoteDocuments(
      [[facet, (await store.getFacetBytes(facet))!]],
      undefined,
      'a' as InstanceId,
    )
    now = BEYOND_DATES
    await store.update(made.id, { fields: { firstName: 'Anne' } })
    const read = await store.get(made.id)
    expect(read?.fields.firstName).toBe('Anne')
    expect(read?.written.firstName).toBeUndefined()
    expect(Date.parse(read!.updatedAt)).toBeLessThan(BEYOND_DATES)
    expect((await store.list('person')).items).toHaveLength(1)

    // Nor does it keep out a peer's honest edit: only stamps new in a document are asked.
    now = Date.now()
    await peer.update(made.id, { fields: { lastName: 'Dahl' } })
    const [outcome] = await store.applyRemoteDocuments(
      [[facet, (await peer.getFacetBytes(facet))!]],
      undefined,
      'b' as InstanceId,
    )
    expect(outcome).not.toBeInstanceOf(Error)
    expect((await store.get(made.id))?.fields).toMatchObject({
      firstName: 'Anne',
      lastName: 'Dahl',
    })
  })
})

describe('a write stamped far ahead of our clock', () => {
  it('is refused beyond 24 hours ahead, as a new object, an edit, and a concurrent change', async () => {
    const day = 24 * 60 * 60 * 1000
    let now = Date.now()
    const a = await openStore('a', () => now)
    const b = await openStore('b')
    const send = async (id: string) => {
      const facet = `${id}/core` as FacetId
      const [outcome] = await b.applyRemoteDocuments(
        [[facet, (await a.getFacetBytes(facet))!]],
        undefined,
        'a' as InstanceId,
      )
      return outcome
    }
    // A new object, read without loading a document.
    now = Date.now() + 2 * day
    const ahead = await a.create({ type: 'person', fields: { firstName: 'F', lastName: 'Uture' } })
    const refusedNew = await send(ahead.id)
    expect((refusedNew as Error).message).toMatch(
      /more than 24 hours ahead of this instance's clock/,
    )
    expect(await b.get(ahead.id)).toBeUndefined()
    // An edit appended to a line, and one merged into concurrent changes.
    now = Date.now()
    const made = await a.create({ type: 'person', fields: { firstName: 'A', lastName: 'Berg' } })
    expect(await send(made.id)).not.toBeInstanceOf(Error)
    now = Date.now() + 2 * day
    await a.update(made.id, { fields: { firstName: 'Later' } })
    expect(((await send(made.id)) as Error).message).toMatch(/more than 24 hours ahead/)
    await b.update(made.id, { fields: { lastName: 'Here' } })
    expect(((await send(made.id)) as Error).message).toMatch(/more than 24 hours ahead/)
    expect((await b.get(made.id))?.fields).toMatchObject({ firstName: 'A', lastName: 'Here' })
    // A concurrent write of the same field, so that the two stamps stand side by side.
    await b.update(made.id, { fields: { firstName: 'Here' } })
    expect(((await send(made.id)) as Error).message).toMatch(/more than 24 hours ahead/)
    expect((await b.get(made.id))?.fields.firstName).toBe('Here')
    expect(Date.parse((await b.get(made.id))!.updatedAt)).toBeLessThan(Date.now() + day)
    // A merge decided with the clock ahead (its stamp says who decided, and when).
    now = Date.now()
    const [one, two] = [
      await a.create({ type: 'person', fields: { firstName: 'O', lastName: 'Ne' } }),
      await a.create({ type: 'person', fields: { firstName: 'T', lastName: 'Wo' } }),
    ]
    expect([await send(one.id), await send(two.id)]).not.toContainEqual(expect.any(Error))
    now = Date.now() + 2 * day
    const survivor = await a.merge(one.id, two.id)
    const merged = survivor === one.id ? two.id : one.id
    expect(((await send(merged)) as Error).message).toMatch(/mergedBy: .*more than 24 hours ahead/)
    expect((await b.get(merged))?.mergedInto).toBeUndefined()
    // An hour ahead is a clock that differs, and is taken.
    now = Date.now() + 60 * 60 * 1000
    const soon = await a.create({ type: 'person', fields: { firstName: 'S', lastName: 'Oon' } })
    expect(await send(soon.id)).not.toBeInstanceOf(Error)
  })
})

describe('a session with a peer that sends a stamp beyond the dates', () => {
  it('stays up: the object is refused, later changes still arrive', async () => {
    let now = Date.now()
    const a = await syncNode('a', undefined, { clock: () => now })
    // Object rules make the receiver read each arriving object as it is here.
    const partners = scopeFromShare({ person: { roles: ['partner'] } }, 'test').scope
    const b = await syncNode('b', undefined, { scopeOf: () => partners })
    await pairNodes(a, b)
    const partner = { lastName: 'Berg', roles: ['partner'] }
    const poisoned = await a.store.create({
      type: 'person',
      fields: { firstName: 'P', ...partner },
    })
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(poisoned.id)) !== undefined)
    const session = b.engine.session(a.id)

    now = BEYOND_DATES
    await a.store.update(poisoned.id, { fields: { firstName: 'Mallory' } })
    now = Date.now()
    await a.store.update(poisoned.id, { fields: { title: 'after' } })
    const later = await a.store.create({ type: 'person', fields: { firstName: 'Q', ...partner } })

    await eventually(async () => (await b.store.get(later.id)) !== undefined)
    expect(b.engine.session(a.id)).toBe(session)
    expect(b.engine.session(a.id)?.stats.facetsRefused).toBeGreaterThanOrEqual(1)
    expect((await b.store.get(poisoned.id))?.fields.firstName).toBe('P')
    await Promise.all([a.stop(), b.stop()])
  })
})

describe('a peer that sends what we refuse, batch after batch', () => {
  it(
    'is logged in one short line per batch, at most ten a minute, and the session goes on',
    { timeout: 30_000 },
    async () => {
      const { logger, lines } = captureLogger()
      const a = await syncNode('a', undefined, { batchBytes: 2_000 })
      // B takes only organizations from A: every person A sends is refused.
      const organizations = scopeFromShare({ organization: true }, 'test').scope
      const b = await syncNode('b', undefined, { scopeOf: () => organizations, logger })
      await pairNodes(a, b)
      // More than the invalid facets that end a session: refusals by scope don't count.
      for (let start = 0; start < 1_050; start += 150) {
        await Promise.all(
          Array.from({ length: 150 }, (_, i) =>
            a.store.create({
              type: 'person',
              fields: { firstName: `P${start + i}`, lastName: 'B' },
            }),
          ),
        )
      }
      const org = await a.store.create({ type: 'organization', fields: { name: 'Acme' } })
      b.engine.connect(a.id)
      await eventually(async () => (await b.store.get(org.id)) !== undefined, 15_000)
      const session = b.engine.session(a.id)
      await eventually(() => b.engine.session(a.id)?.stats.facetsRefused === 1_050)
      expect(b.engine.session(a.id)).toBe(session)
      expect(b.engine.state(a.id).lastError).toBeUndefined()
      const refusals = lines.filter((line) => line.msg === 'facets from peer refused')
      expect(refusals.length).toBeGreaterThan(0)
      expect(refusals.length).toBeLessThanOrEqual(10)
      expect(b.engine.session(a.id)?.stats.batchesReceived).toBeGreaterThan(10)
      for (const line of refusals) {
        expect(line.err).toBeUndefined()
        expect(JSON.stringify(line).length).toBeLessThan(2_000)
        expect((line.examples as unknown[]).length).toBeLessThanOrEqual(3)
      }
      // Every refusal is in the log in the end: those past the cap in the session's last line.
      b.engine.disconnect(a.id)
      const counted = () =>
        lines
          .filter((line) => String(line.msg).startsWith('facets from peer refused'))
          .reduce(
            (sum, line) => sum + Number(line.refused ?? 0) + Number(line.refusedUnlogged ?? 0),
            0,
          )
      await eventually(() => counted() === 1_050).catch(() => undefined)
      expect(counted()).toBe(1_050)
      await Promise.all([a.stop(), b.stop()])
    },
  )

  it('an object that does not read here is refused on its own, not the session', async () => {
    const a = await syncNode('a')
    const partners = scopeFromShare({ person: { roles: ['partner'] } }, 'test').scope
    const b = await syncNode('b', undefined, { scopeOf: () => partners })
    await pairNodes(a, b)
    const partner = { lastName: 'Berg', roles: ['partner'] }
    const broken = await a.store.create({ type: 'person', fields: { firstName: 'P', ...partner } })
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(broken.id)) !== undefined)
    const session = b.engine.session(a.id)
    // As a document that no longer loads would (DOCUMENT_CORRUPT).
    const get = b.store.get.bind(b.store)
    b.store.get = (id) =>
      id === broken.id
        ? Promise.reject(new ObjectSyncError('DOCUMENT_CORRUPT', 'the document does not load'))
        : get(id)
    await a.store.update(broken.id, { fields: { title: 'edited' } })
    const later = await a.store.create({ type: 'person', fields: { firstName: 'Q', ...partner } })
    await eventually(async () => (await b.store.get(later.id)) !== undefined)
    expect(b.engine.session(a.id)).toBe(session)
    expect(b.engine.session(a.id)?.stats.facetsRefused).toBe(1)
    await Promise.all([a.stop(), b.stop()])
  })
})

describe('a peer that names objects it is not shared', () => {
  it('is refused when it attaches a transaction to them; shared and unknown ones are fine', async () => {
    const a = await syncNode('a')
    // B shares customers and transactions with A, not its employees.
    const customers = scopeFromShare(
      { person: { roles: ['customer'] }, transaction: true },
      'test',
    ).scope
    const b = await syncNode('b', undefined, { scopeOf: () => customers })
    await pairNodes(a, b)
    const employee = await b.store.create({
      type: 'person',
      fields: { firstName: 'E', lastName: 'Mployee', roles: ['employee'] },
    })
    const customer = await b.store.create({
      type: 'person',
      fields: { firstName: 'C', lastName: 'Ustomer', roles: ['customer'] },
    })
    b.engine.connect(a.id)
    await eventually(async () => (await a.store.get(customer.id)) !== undefined)
    expect(await a.store.get(employee.id)).toBeUndefined()

    // A learned the employee's id (from a reference, say) and attaches a donation to it.
    const donation = { type: 'donation', date: '2026-01-01', amount: '10' }
    const attached = await a.store.create({
      type: 'transaction',
      fields: { ...donation, personId: employee.id },
    })
    const toCustomer = await a.store.create({
      type: 'transaction',
      fields: { ...donation, personId: customer.id },
    })
    const toUnknown = await a.store.create({
      type: 'transaction',
      fields: { ...donation, personId: newObjectId() },
    })
    await eventually(async () => (await b.store.get(toUnknown.id)) !== undefined)
    expect((await b.store.get(toCustomer.id))?.fields.personId).toBe(customer.id)
    expect(await b.store.get(attached.id)).toBeUndefined()
    expect(b.engine.session(a.id)?.stats.facetsRefused).toBe(1)
    // Nor can A move a shared transaction onto the employee.
    await a.store.update(toCustomer.id, { fields: { personId: employee.id } })
    await a.store.update(toUnknown.id, { fields: { amount: '20' } })
    await eventually(async () => (await b.store.get(toUnknown.id))?.fields.amount === '20')
    expect((await b.store.get(toCustomer.id))?.fields.personId).toBe(customer.id)
    await Promise.all([a.stop(), b.stop()])
  })
})

describe('a peer whose sessions keep breaking', () => {
  it('is told apart: why the session broke off shows, and it is redialled on a growing backoff', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b')
    await pairNodes(a, b)
    await a.store.create({ type: 'person', fields: { firstName: 'P', lastName: 'Berg' } })
    // Every batch B receives fails to apply: each session breaks as soon as it receives.
    b.store.applyRemoteDocuments = () => Promise.reject(new Error('the disk broke'))
    let sessions = 0
    b.engine.on('peer', (state) => {
      if (state.peer === a.id && state.connected) sessions++
    })
    b.engine.connect(a.id)
    await eventually(() => b.engine.state(a.id).lastError === 'the disk broke')
    const counted = sessions
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    // Backoff 20 ms doubling to 200 ms (jittered): ≈ 10 more in 1.5 s; a connect that
    // reset it made one every ≈ 20 ms.
    expect(sessions - counted).toBeLessThan(20)
    expect(b.engine.state(a.id).lastError).toBe('the disk broke')
    await Promise.all([a.stop(), b.stop()])
  })

  it('is cut off after 1,000 invalid facets in a minute, and says so', async () => {
    let now = BEYOND_DATES
    const a = await syncNode('a', undefined, { clock: () => now })
    const b = await syncNode('b')
    await pairNodes(a, b)
    for (let start = 0; start < 1_050; start += 150) {
      await Promise.all(
        Array.from({ length: 150 }, (_, i) =>
          a.store.create({ type: 'person', fields: { firstName: `P${start + i}`, lastName: 'B' } }),
        ),
      )
    }
    now = Date.now()
    const honest = await a.store.create({
      type: 'person',
      fields: { firstName: 'H', lastName: 'B' },
    })
    const reasons: (string | undefined)[] = []
    b.engine.on('peer', (state) => reasons.push(state.lastError))
    b.engine.connect(a.id)
    // The next session goes on after the batch that broke the camel's back.
    await eventually(async () => (await b.store.get(honest.id)) !== undefined, 15_000)
    await eventually(() =>
      reasons.some((reason) =>
        /^the peer sent \d+ facets refused as invalid within a minute$/.test(reason ?? ''),
      ),
    )
    expect(b.engine.state(a.id).refused).toBeGreaterThanOrEqual(1_000)
    await Promise.all([a.stop(), b.stop()])
  }, 30_000)
})

describe('references a peer sets, checked on what the store holds after merging', () => {
  it('are refused whether they come in a new object, an edit, only the new change, or beside one here', async () => {
    const a = await openStore('a')
    const b = await openStore('b')
    const employee = newObjectId()
    const customer = newObjectId()
    const admits: AdmitsReference = (_type, field, target) =>
      Promise.resolve(target === employee ? `${field} names the employee` : undefined)
    const facetOf = (id: string) => `${id}/core` as FacetId
    const apply = async (id: string, bytes?: Uint8Array) => {
      const [outcome] = await b.applyRemoteDocuments(
        [[facetOf(id), bytes ?? (await a.getFacetBytes(facetOf(id)))!]],
        undefined,
        'a' as InstanceId,
        admits,
      )
      return outcome
    }
    const donation = { type: 'donation', date: '2026-01-01', amount: '10' }
    // A new object, read from its bytes.
    const attached = await a.create({
      type: 'transaction',
      fields: { ...donation, personId: employee },
    })
    expect(((await apply(attached.id)) as Error).message).toMatch(/personId names the employee/)
    // An edit extending a line.
    const moved = await a.create({
      type: 'transaction',
      fields: { ...donation, personId: customer },
    })
    expect(await apply(moved.id)).not.toBeInstanceOf(Error)
    const heads = A.getHeads(A.load((await a.getFacetBytes(facetOf(moved.id)))!))
    await a.update(moved.id, { fields: { personId: employee } })
    expect(((await apply(moved.id)) as Error).message).toMatch(/names the employee/)
    // Only the new change, not the whole document: merged onto what is here, then checked.
    const latest = A.saveSince(A.load((await a.getFacetBytes(facetOf(moved.id)))!), heads)
    expect(((await apply(moved.id, latest)) as Error).message).toMatch(/names the employee/)
    // Beside a change made here.
    await b.update(moved.id, { fields: { amount: '12' } })
    expect(((await apply(moved.id)) as Error).message).toMatch(/names the employee/)
    expect((await b.get(moved.id))?.fields).toMatchObject({ personId: customer, amount: '12' })
    expect(await b.get(attached.id)).toBeUndefined()
    // A reference that was there already is not asked again.
    await a.update(moved.id, { fields: { personId: customer } })
    await a.update(moved.id, { fields: { description: 'back' } })
    expect(await apply(moved.id)).not.toBeInstanceOf(Error)
  })
})
