import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { FacetName, ObjectId } from '../../src/model/index.ts'
import { actionsFromConfig } from '../../src/local/index.ts'
import { scopeFromShare } from '../../src/sync/index.ts'
import { eventually, pairNodes, syncNode } from '../helpers/sync-nodes.ts'

const facet = (name: string) => name as FacetName
const ID = '0000000000000000000000a' as ObjectId

describe('scope from share', () => {
  it('shares the listed types, and custom groups as listed (absent: all, []: none)', () => {
    const { scope, warnings } = scopeFromShare(
      { person: { custom: ['partner-fields'] }, organization: {}, file: { custom: [] } },
      'peers[0]',
    )
    expect(warnings).toEqual([])
    expect(scope.everything).toBe(false)
    expect(scope.types).toEqual(['person', 'organization', 'file'])
    expect(scope.allows('person', facet('core'))).toBe(true)
    expect(scope.allows('person', facet('custom:partner-fields'))).toBe(true)
    expect(scope.allows('person', facet('custom:other'))).toBe(false)
    expect(scope.allows('organization', facet('custom:other'))).toBe(true)
    expect(scope.allows('file', facet('custom:other'))).toBe(false)
    expect(scope.allows('transaction', facet('core'))).toBe(false)
    const all = scopeFromShare(
      { person: {}, organization: {}, transaction: {}, file: {} },
      'p',
    ).scope
    expect(all.everything).toBe(true)
  })

  it('shares objects that match any rule of their type', () => {
    const { scope, warnings } = scopeFromShare(
      {
        person: { roles: ['partner'], favourites: true },
        organization: { categories: ['partner'] },
        transaction: { types: ['donation'] },
        file: { kinds: ['resume'] },
      },
      'peers[0]',
    )
    expect(warnings).toEqual([])
    expect(scope.everything).toBe(false)
    const person = scope.objectFilter('person')!
    expect(person({ roles: ['donor', 'partner'] }, ID, 'out')).toBe(true)
    expect(person({ roles: ['donor'], favourite: true }, ID, 'out')).toBe(true)
    expect(person({ roles: ['donor'], favourite: false }, ID, 'out')).toBe(false)
    expect(person({}, ID, 'out')).toBe(false)
    expect(scope.objectFilter('organization')!({ categories: ['partner'] }, ID, 'out')).toBe(true)
    expect(scope.objectFilter('organization')!({ categories: 'partner' }, ID, 'out')).toBe(true)
    expect(scope.objectFilter('transaction')!({ type: 'donation' }, ID, 'out')).toBe(true)
    expect(scope.objectFilter('transaction')!({ type: 'payment' }, ID, 'out')).toBe(false)
    expect(scope.objectFilter('file')!({ kind: 'resume' }, ID, 'out')).toBe(true)
    // No rules (or only `favourites: false`): every object of the type.
    const whole = scopeFromShare({ person: { favourites: false } }, 'p').scope
    expect(whole.objectFilter('person')).toBeUndefined()
    // The rules are part of the scope's key: a resume token made under others won't do.
    expect(scopeFromShare({ person: { roles: ['a'] } }, 'p').scope.key).not.toBe(
      scopeFromShare({ person: { roles: ['b'] } }, 'p').scope.key,
    )
  })

  it('withholds a type whose rules it cannot apply, and says where', () => {
    const { scope, warnings } = scopeFromShare(
      {
        person: { groups: ['Partners'] },
        organization: { groups: ['Partners'], categories: ['partner'], custom: 'x' },
        transaction: { kinds: ['resume'] },
        file: { kinds: 'resume' },
        planet: {},
      },
      'peers[2]',
    )
    expect(scope.types).toEqual(['organization'])
    expect(scope.objectFilter('organization')!({ categories: ['partner'] }, ID, 'out')).toBe(true)
    expect(scope.allows('organization', facet('custom:x'))).toBe(false)
    expect(warnings).toEqual([
      'peers[2].share.person.groups: group rules need the local system, and there is none; person is not shared with this peer',
      'peers[2].share.organization.groups: group rules need the local system, and there is none; only the other rules share organization objects',
      'peers[2].share.organization.custom: expected a list of custom-field group names; sharing no custom fields',
      'peers[2].share.transaction.kinds: not a rule for transaction (it takes types, custom); transaction is not shared with this peer',
      'peers[2].share.file.kinds: expected a list of names; file is not shared with this peer',
      'peers[2].share.planet: not an object type (person, organization, transaction, file); ignored',
    ])
    expect(scopeFromShare(undefined, 'peers[3]').scope.types).toEqual([])
  })

  it('withholds a type given as false or null, which would otherwise read as shared whole', () => {
    const { scope, warnings, problems } = scopeFromShare(
      { person: false, organization: null, transaction: true, file: {} },
      'peers[0]',
    )
    expect(scope.types).toEqual(['transaction', 'file'])
    expect(warnings).toEqual([
      'peers[0].share.person: expected an object of rules ({} shares every object of the type); person is not shared with this peer',
      'peers[0].share.organization: expected an object of rules ({} shares every object of the type); organization is not shared with this peer',
    ])
    // The same, each part apart: what a share given through the API is refused with.
    expect(problems[0]).toEqual({
      at: 'peers[0].share.person',
      problem: 'expected an object of rules ({} shares every object of the type)',
      outcome: 'person is not shared with this peer',
    })
  })
})

describe('group rules', () => {
  it("read the local system's membership: out while the record is in a group, in while it has none", () => {
    const [inGroup, elsewhere, noRecord] = ['a', 'b', 'c'].map(
      (letter) => letter.padStart(23, '0') as ObjectId,
    )
    const members = new Map<ObjectId, ReadonlySet<string>>([
      [inGroup!, new Set(['Partners'])],
      [elsewhere!, new Set(['Board'])],
    ])
    const { scope, warnings } = scopeFromShare(
      { person: { groups: ['Partners'], roles: ['partner'] } },
      'peers[0]',
      (id) => members.get(id),
    )
    expect(warnings).toEqual([])
    const person = scope.objectFilter('person')!
    expect(person({}, inGroup!, 'out')).toBe(true)
    expect(person({}, elsewhere!, 'out')).toBe(false)
    expect(person({ roles: ['partner'] }, elsewhere!, 'out')).toBe(true)
    // No local record: nothing of ours to share; arriving, it may come in and join.
    expect(person({}, noRecord!, 'out')).toBe(false)
    expect(person({}, noRecord!, 'in')).toBe(true)
    expect(person({}, elsewhere!, 'in')).toBe(false)
    expect(scope.key).toContain('Partners')
  })
})

describe('peers.example.json', () => {
  it('reads as documented: every rule applies, groups through the local system, and the actions', () => {
    const example = JSON.parse(
      readFileSync(new URL('../../peers.example.json', import.meta.url), 'utf8'),
    ) as { peers: { share: unknown; actions: unknown }[] }
    const partners = new Set(['Partners'])
    const inPartners = '0000000000000000000000p' as ObjectId
    const { scope, warnings } = scopeFromShare(example.peers[0]!.share, 'peers[0]', (id) =>
      id === inPartners ? partners : new Set(),
    )
    expect(warnings).toEqual([])
    expect(scope.types).toEqual(['person', 'organization', 'transaction', 'file'])
    expect(scope.objectFilter('person')!({ roles: ['partner'] }, ID, 'out')).toBe(true)
    expect(scope.objectFilter('person')!({}, inPartners, 'out')).toBe(true)
    expect(scope.objectFilter('person')!({}, ID, 'out')).toBe(false)
    expect(scope.allows('person', facet('custom:partner-fields'))).toBe(true)
    expect(scope.allows('person', facet('custom:other'))).toBe(false)
    // Without a local system the groups rule can't be read, and the warning says so.
    expect(scopeFromShare(example.peers[0]!.share, 'peers[0]').warnings).toEqual([
      'peers[0].share.person.groups: group rules need the local system, and there is none; only the other rules share person objects',
    ])
    expect(actionsFromConfig(example.peers[0]!.actions).person).toEqual({
      create: 'link',
      maintain: 'update',
      delete: 'archive',
    })
  })
})

describe('scope in the sync engine', () => {
  it('sends only in-scope types and custom groups, at first sync and live', async () => {
    const groups = { customFieldGroups: { 'partner-fields': ['level'] } }
    const partnerScope = scopeFromShare({ person: { custom: ['partner-fields'] } }, 'test').scope
    const a = await syncNode('a', undefined, {
      ...groups,
      scopeOf: () => partnerScope,
    })
    const b = await syncNode('b', undefined, groups)
    await pairNodes(a, b)
    const person = await a.store.create({
      type: 'person',
      fields: { firstName: 'A', lastName: 'B' },
      custom: { level: 'gold', salary: 1000 },
    })
    const org = await a.store.create({ type: 'organization', fields: { name: 'Acme' } })
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(person.id)) !== undefined)
    await eventually(() => b.engine.state(a.id).progress?.caughtUp === true)
    expect((await b.store.get(person.id))!.custom).toEqual({ level: 'gold' })
    expect(await b.store.facetsOf(person.id)).toEqual(['core', 'custom:partner-fields'])
    expect(await b.store.get(org.id)).toBeUndefined()

    const later = await a.store.create({
      type: 'person',
      fields: { firstName: 'C', lastName: 'D' },
    })
    const laterOrg = await a.store.create({ type: 'organization', fields: { name: 'Later' } })
    await a.store.update(person.id, { custom: { salary: 2000, level: 'platinum' } })
    await eventually(async () => (await b.store.get(person.id))?.custom.level === 'platinum')
    expect(await b.store.get(later.id)).toBeDefined()
    expect(await b.store.get(laterOrg.id)).toBeUndefined()
    expect((await b.store.get(person.id))!.custom).toEqual({ level: 'platinum' })
    await Promise.all([a.stop(), b.stop()])
  })

  it('refuses what a peer sends outside the scope it has here, applying the rest', async () => {
    const a = await syncNode('a')
    const b = await syncNode('b', undefined, {
      scopeOf: () => scopeFromShare({ person: {} }, 'test').scope,
    })
    await pairNodes(a, b)
    const person = await a.store.create({
      type: 'person',
      fields: { firstName: 'A', lastName: 'B' },
    })
    const org = await a.store.create({ type: 'organization', fields: { name: 'Acme' } })
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(person.id)) !== undefined)
    await eventually(() => (b.engine.session(a.id)?.stats.facetsRefused ?? 0) >= 1)
    expect(await b.store.get(org.id)).toBeUndefined()
    await Promise.all([a.stop(), b.stop()])
  })

  it('shares objects by their fields: in scope at first sync and live, whole when they enter, announced when they leave', async () => {
    const groups = { customFieldGroups: { notes: ['note'] } }
    const partners = scopeFromShare({ person: { roles: ['partner'] } }, 'test').scope
    const a = await syncNode('a', undefined, { ...groups, scopeOf: () => partners })
    const b = await syncNode('b', undefined, groups)
    await pairNodes(a, b)
    const partner = await a.store.create({
      type: 'person',
      fields: { firstName: 'P', lastName: 'Partner', roles: ['partner'] },
      custom: { note: 'shared' },
    })
    const donor = await a.store.create({
      type: 'person',
      fields: { firstName: 'D', lastName: 'Donor', roles: ['donor'] },
      custom: { note: 'private' },
    })
    const left: string[] = []
    b.engine.on('left', (_, objects) => left.push(...objects))
    b.engine.connect(a.id)
    await eventually(() => b.engine.state(a.id).progress?.caughtUp === true)
    expect((await b.store.get(partner.id))?.custom).toEqual({ note: 'shared' })
    // Not the object, not any facet of it, not its history.
    expect(await b.store.get(donor.id)).toBeUndefined()
    expect(await b.store.facetsOf(donor.id)).toEqual([])

    // Live: a new donor stays here; the donor who becomes a partner arrives whole.
    const another = await a.store.create({
      type: 'person',
      fields: { firstName: 'E', lastName: 'Else', roles: ['donor'] },
    })
    await a.store.update(donor.id, { fields: { roles: ['donor', 'partner'] } })
    await eventually(async () => (await b.store.get(donor.id))?.custom.note === 'private')
    expect(await b.store.get(another.id)).toBeUndefined()

    // The partner stops being one: B is told it left, and keeps it (not a delete).
    await a.store.update(partner.id, { fields: { roles: ['donor'], title: 'gone' } })
    await eventually(() => left.includes(partner.id))
    const kept = await b.store.get(partner.id)
    expect(kept?.deleted).toBe(false)
    expect(kept?.fields.title).toBeUndefined()
    await a.store.update(partner.id, { custom: { note: 'after leaving' } })
    await a.store.update(donor.id, { fields: { title: 'still shared' } })
    await eventually(async () => (await b.store.get(donor.id))?.fields.title === 'still shared')
    expect((await b.store.get(partner.id))?.custom.note).toBe('shared')
    await Promise.all([a.stop(), b.stop()])
  })

  it('refuses objects a peer pushes that this instance does not share with it', async () => {
    const a = await syncNode('a', undefined, {
      scopeOf: () => scopeFromShare({ transaction: { types: ['donation'] } }, 'test').scope,
    })
    const b = await syncNode('b')
    await pairNodes(a, b)
    const donation = await b.store.create({
      type: 'transaction',
      fields: { type: 'donation', date: '2026-01-01', amount: '10.00' },
    })
    const payment = await b.store.create({
      type: 'transaction',
      fields: { type: 'payment', date: '2026-01-02', amount: '99.00' },
    })
    b.engine.connect(a.id)
    await eventually(async () => (await a.store.get(donation.id)) !== undefined)
    await eventually(() => (a.engine.session(b.id)?.stats.facetsRefused ?? 0) >= 1)
    expect(await a.store.get(payment.id)).toBeUndefined()
    // B makes the payment a donation: now it is shared, and A takes it.
    await b.store.update(payment.id, { fields: { type: 'donation' } })
    await eventually(async () => (await a.store.get(payment.id))?.fields.amount === '99.00')
    await Promise.all([a.stop(), b.stop()])
  })

  it("a peer's edit that moves an object out of what we share with it is announced as left", async () => {
    const donations = scopeFromShare({ transaction: { types: ['donation'] } }, 'test').scope
    const a = await syncNode('a', undefined, { scopeOf: () => donations })
    const b = await syncNode('b')
    await pairNodes(a, b)
    const gift = await a.store.create({
      type: 'transaction',
      fields: { type: 'donation', date: '2026-01-01', amount: '10.00' },
    })
    const left: string[] = []
    b.engine.on('left', (_, objects) => left.push(...objects))
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(gift.id)) !== undefined)
    // B's edit continues the line A holds (A's fast path), and takes it out of A's share.
    await b.store.update(gift.id, { fields: { type: 'payment' } })
    await eventually(async () => (await a.store.get(gift.id))?.fields.type === 'payment')
    await eventually(() => left.includes(gift.id))
    // A's later edits of it stay here: B's cursor of A's feed passes them, unchanged.
    await a.store.update(gift.id, { fields: { amount: '12.00' } })
    await eventually(async () => {
      const cursor = await b.store.getSyncState(`received/${a.id}`)
      return Number(new TextDecoder().decode(cursor)) === a.store.lastSeq
    })
    expect((await b.store.get(gift.id))?.fields.amount).toBe('10.00')
    await Promise.all([a.stop(), b.stop()])
  })

  it('after a scope change, objects newly in scope go at the next session, and those out of it are announced as left', async () => {
    let share: unknown = { person: { roles: ['partner'] } }
    const a = await syncNode('a', undefined, {
      scopeOf: () => scopeFromShare(share, 'test').scope,
    })
    const b = await syncNode('b')
    await pairNodes(a, b)
    const partner = await a.store.create({
      type: 'person',
      fields: { firstName: 'P', lastName: 'Partner', roles: ['partner'] },
    })
    const donor = await a.store.create({
      type: 'person',
      fields: { firstName: 'D', lastName: 'Donor', roles: ['donor'] },
    })
    b.engine.connect(a.id)
    await eventually(async () => (await b.store.get(partner.id)) !== undefined)
    await eventually(() => b.engine.state(a.id).progress?.caughtUp === true)
    expect(await b.store.get(donor.id)).toBeUndefined()
    // The administrator widens the share; the next session sends what is now in scope,
    // although nothing about the donor changed since B's cursor.
    share = { person: {} }
    b.engine.session(a.id)!.close()
    await eventually(async () => (await b.store.get(donor.id)) !== undefined)
    // Narrowed again: the partner, which B had from A, is announced as left.
    const left: string[] = []
    b.engine.on('left', (_, objects) => left.push(...objects))
    share = { person: { roles: ['donor'] } }
    await eventually(() => b.engine.state(a.id).progress?.caughtUp === true)
    b.engine.session(a.id)!.close()
    await eventually(() => left.includes(partner.id))
    expect(left).not.toContain(donor.id)
    await Promise.all([a.stop(), b.stop()])
  })

  it('regression: a scope with many rules still resumes (its tokens stay short)', async () => {
    const roles = Array.from({ length: 80 }, (_, i) => `role-with-a-long-name-${i}`)
    const scope = scopeFromShare({ person: { roles } }, 'test').scope
    const a = await syncNode('a', undefined, { scopeOf: () => scope, batchBytes: 2048 })
    const b = await syncNode('b')
    await pairNodes(a, b)
    const ids = await Promise.all(
      Array.from(
        { length: 30 },
        async (_, i) =>
          (
            await a.store.create({
              type: 'person',
              fields: { firstName: `P${i}`, lastName: 'L', roles: [roles[i]!] },
            })
          ).id,
      ),
    )
    b.engine.connect(a.id)
    await eventually(async () => {
      for (const id of ids) if ((await b.store.get(id)) === undefined) return false
      return true
    })
    expect(b.engine.session(a.id)?.stats.facetsRefused ?? 0).toBe(0)
    await Promise.all([a.stop(), b.stop()])
  })
})
