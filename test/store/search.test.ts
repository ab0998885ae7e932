// Search by name or email across types: every word of the query, case and accents aside;
// deleted and merged records left out; a page at a time; bad queries refused.
import { describe, expect, it } from 'vitest'
import { objectLabel } from '../../src/model/index.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { openStore } from '../helpers/stores.ts'

async function seeded(): Promise<ObjectStore> {
  const store = await openStore(new MemoryStorage())
  await store.create({
    type: 'person',
    fields: { firstName: 'Åse', lastName: 'Nordby', email: 'ase@example.org' },
  })
  await store.create({ type: 'person', fields: { firstName: 'Ola', lastName: 'Nordmann' } })
  await store.create({ type: 'organization', fields: { name: 'Nordby Sanitetslag' } })
  await store.create({
    type: 'transaction',
    fields: { type: 'donation', date: '2026-03-01', amount: '250.00', currency: 'NOK' },
  })
  return store
}

const labels = (page: { items: { type: string; fields: object }[] }) =>
  page.items.map((item) => objectLabel(item.type, item.fields as never)).sort()

describe('search', () => {
  it('finds names and emails across types, case and accents aside', async () => {
    const store = await seeded()
    expect(labels(await store.search('nordby'))).toEqual(['Nordby Sanitetslag', 'Åse Nordby'])
    expect(labels(await store.search('ASE nord'))).toEqual(['Åse Nordby'])
    expect(labels(await store.search('ase@example'))).toEqual(['Åse Nordby'])
    expect(labels(await store.search('nord', { type: 'person' }))).toEqual([
      'Ola Nordmann',
      'Åse Nordby',
    ])
    expect(labels(await store.search('donation 2026'))).toEqual(['donation 2026-03-01 250.00 NOK'])
    expect((await store.search('nobody')).items).toEqual([])
    await store.close()
  })

  it('leaves out deleted records and records merged into another', async () => {
    const store = await seeded()
    const { items } = await store.search('nord', { type: 'person' })
    const [first, second] = items.map((item) => item.id).sort()
    await store.merge(first!, second!)
    expect((await store.search('nord', { type: 'person' })).items.map((item) => item.id)).toEqual([
      first,
    ])
    await store.delete(first!)
    expect((await store.search('nord', { type: 'person' })).items).toEqual([])
    await store.close()
  })

  it('pages by cursor and refuses an empty or overlong query and a bad cursor', async () => {
    const store = await openStore(new MemoryStorage())
    for (let index = 0; index < 7; index++) {
      await store.create({ type: 'person', fields: { firstName: `Kim${index}`, lastName: 'Lie' } })
    }
    const seen: string[] = []
    let after: string | undefined
    let pages = 0
    do {
      const page = await store.search('lie', { limit: 3, ...(after ? { after } : {}) })
      seen.push(...page.items.map((item) => item.fields.firstName as string))
      after = page.next
      pages++
    } while (after !== undefined)
    expect(seen.sort()).toEqual(['Kim0', 'Kim1', 'Kim2', 'Kim3', 'Kim4', 'Kim5', 'Kim6'])
    expect(pages).toBe(3)
    await expect(store.search('  ')).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(store.search('x'.repeat(201))).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(store.search('lie', { after: 'bogus' })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
    })
    await expect(store.search('lie', { limit: 101 })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
    })
    await store.close()
  })
})
