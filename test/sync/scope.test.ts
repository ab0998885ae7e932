import { describe, expect, it } from 'vitest'
import type { FacetName } from '../../src/model/index.ts'
import { scopeFromShare } from '../../src/sync/index.ts'
import { eventually, pairNodes, syncNode } from '../helpers/sync-nodes.ts'

const facet = (name: string) => name as FacetName

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

  it('withholds a type whose rules it cannot apply yet, and says where', () => {
    const { scope, warnings } = scopeFromShare(
      { person: { roles: ['partner'] }, planet: {}, organization: { custom: 'x' } },
      'peers[2]',
    )
    expect(scope.allows('person', facet('core'))).toBe(false)
    expect(warnings).toEqual([
      'peers[2].share.person.roles: object-level rules are not applied yet; person is not shared with this peer',
      'peers[2].share.planet: not an object type (person, organization, transaction, file); ignored',
      'peers[2].share.organization.custom: expected a list of custom-field group names; sharing no custom fields',
    ])
    expect(scopeFromShare(undefined, 'peers[3]').scope.types).toEqual([])
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
})
