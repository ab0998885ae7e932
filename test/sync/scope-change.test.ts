// scopeChange: the records a new scope would send to a peer and withdraw from it, counted
// from the store a page at a time, as the share preview shows them.
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../src/store/index.ts'
import { scopeChange, scopeFromShare } from '../../src/sync/index.ts'
import { openStore } from '../helpers/stores.ts'

const scope = (share: unknown) => scopeFromShare(share, 'test').scope

describe('scopeChange', () => {
  it('counts what a new scope sends and withdraws, deleted and merged records aside', async () => {
    const store = await openStore(new MemoryStorage())
    const partners = []
    for (let i = 0; i < 7; i++) {
      partners.push(
        await store.create({
          type: 'person',
          fields: { firstName: `Partner${i}`, lastName: 'Person', roles: ['partner'] },
        }),
      )
    }
    await store.create({ type: 'person', fields: { firstName: 'Staff', lastName: 'Person' } })
    await store.delete(partners[0]!.id)
    // Merged: one of the two stands for both, and only it is counted.
    await store.merge(partners[1]!.id, partners[2]!.id)
    await store.create({ type: 'organization', fields: { name: 'Acme AS' } })
    await store.create({ type: 'organization', fields: { name: 'Birk AS' } })

    const change = await scopeChange(
      store,
      scope({ organization: {} }),
      scope({ person: { roles: ['partner'] } }),
    )
    expect(change.send).toEqual({ person: 5 })
    expect(change.withdraw).toEqual({ organization: 2 })
    expect(change.examples.send).toHaveLength(5)
    expect(change.examples.send.every((each) => each.label.endsWith(' Person'))).toBe(true)
    expect(change.examples.send.map((each) => each.label)).not.toContain('Staff Person')
    expect(change.examples.withdraw.map((each) => each.label).sort()).toEqual([
      'Acme AS',
      'Birk AS',
    ])
    expect(change.examples.withdraw[0]).toMatchObject({ type: 'organization' })

    // The same scope both ways changes nothing.
    const none = await scopeChange(store, scope({ person: {} }), scope({ person: {} }))
    expect(none).toEqual({ send: {}, withdraw: {}, examples: { send: [], withdraw: [] } })
  })

  it('counts a file as a session decides it: with its owner', async () => {
    const store = await openStore(new MemoryStorage())
    const owner = await store.create({
      type: 'person',
      fields: { firstName: 'Olga', lastName: 'Owner', roles: ['staff'] },
    })
    await store.create({
      type: 'file',
      fields: { ownerId: owner.id, kind: 'resume', name: 'cv.pdf' },
    })
    const withPartners = scope({ person: { roles: ['partner'] }, file: {} })
    const change = await scopeChange(store, scope({}), withPartners)
    // The file's owner is not shared: neither goes.
    expect(change.send).toEqual({})
    const withStaff = scope({ person: { roles: ['staff'] }, file: {} })
    expect((await scopeChange(store, scope({}), withStaff)).send).toEqual({ person: 1, file: 1 })
  })
})
