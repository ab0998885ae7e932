// The local sync's sync-state table and its pure row comparison. The bytes asserted here
// are what versions before the typed table wrote: existing data folders depend on them.
import { describe, expect, it } from 'vitest'
import type { InstanceId, ObjectId } from '../../src/model/index.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { defaultEntity } from '../../src/local/index.ts'
import { openStore } from '../helpers/stores.ts'
import { localState, linkName } from '../../src/local/local-sync/state-keys.ts'
import {
  changedSince,
  sameSnapshot,
  snapshot,
  withoutNulls,
} from '../../src/local/local-sync/row-snapshot.ts'

/** Every `local/` sync-state entry as text, to compare with what was written before. */
async function storedText(store: ObjectStore): Promise<Record<string, string>> {
  const text: Record<string, string> = {}
  for await (const [key, value] of store.scanSyncState('local/')) {
    text[key] = new TextDecoder().decode(value)
  }
  return text
}

const id = '01HZY0000000000000000000AB' as ObjectId
const peer = 'peer-b' as InstanceId

describe('the local sync state', () => {
  it('writes the bytes earlier versions wrote', async () => {
    const state = await openStore(new MemoryStorage())
    await localState.changesCursor.write(state, 42)
    await localState.initialized.write(state, true)
    await localState.link.write(state, linkName('person', 'p/1'), id)
    await localState.object.write(state, id, { key: 'p/1', seen: undefined })
    await localState.retry.write(state, id, { from: undefined })
    await localState.contentWait.write(state, id, { from: peer })
    await localState.groups.write(state, 'p/1', ['a', 'b'])
    await localState.review.write(state, id, {
      type: 'person',
      candidates: ['p1', 'p2'],
      from: peer,
    })
    expect(await storedText(state)).toEqual({
      'local/changes': '42',
      'local/initialized': '1',
      'local/link/person/p/1': id,
      [`local/object/${id}`]: '{"key":"p/1"}',
      [`local/retry/${id}`]: '',
      [`local/content-wait/${id}`]: 'peer-b',
      'local/groups/p/1': '["a","b"]',
      [`local/review/${id}`]: '{"type":"person","candidates":["p1","p2"],"from":"peer-b"}',
    })
    await state.close()
  })

  it('reads those bytes back, and refuses unreadable ones instead of taking them as absent', async () => {
    const state = await openStore(new MemoryStorage())
    const encode = (text: string) => new TextEncoder().encode(text)
    await state.updateSyncState([
      ['local/projected', encode('17')],
      [`local/retry/${id}`, encode('')],
      ['local/link/person/p/1', encode(id)],
      [`local/object/${id}`, encode('not json')],
    ])
    expect(await localState.projectedCursor.read(state)).toBe(17)
    expect(await localState.retry.read(state, id)).toEqual({ from: undefined })
    // An unreadable link read as absent made the projector write a second row for the
    // object (found in review): it must stop and say so instead.
    await expect(localState.object.read(state, id)).rejects.toMatchObject({
      code: 'SYNC_STATE_CORRUPT',
    })
    const links = []
    for await (const entry of localState.link.scan(state)) links.push(entry)
    expect(links).toEqual([['person/p/1', id]])
    await state.close()
  })
})

describe('row snapshots', () => {
  const entity = defaultEntity('person')

  it('a row that reads as last seen is the same; custom fields in any order', () => {
    const seen = snapshot(entity, { first_name: 'Anna', favourite: 1 }, { b: '2', a: '1' })
    expect(
      sameSnapshot(
        seen,
        snapshot(entity, { first_name: 'Anna', favourite: '1' }, { a: '1', b: '2' }),
      ),
    ).toBe(true)
    expect(
      sameSnapshot(
        seen,
        snapshot(entity, { first_name: 'Anne', favourite: 1 }, { a: '1', b: '2' }),
      ),
    ).toBe(false)
    expect(sameSnapshot(undefined, seen)).toBe(false)
  })

  it('compares column by column: order aside, a column or custom field on one side only differs', () => {
    const columns = { first_name: 'Anna', last_name: null }
    const same = (a: object, b: object, customA?: object, customB?: object) =>
      sameSnapshot(
        { columns: a, custom: customA } as Parameters<typeof sameSnapshot>[1],
        { columns: b, custom: customB } as Parameters<typeof sameSnapshot>[1],
      )
    // As read back from a link an earlier mapping wrote, its columns in another order.
    expect(same(columns, { last_name: null, first_name: 'Anna' })).toBe(true)
    expect(same(columns, { first_name: 'Anna' })).toBe(false) // a column gone
    expect(same({ first_name: 'Anna' }, columns)).toBe(false) // a column added
    expect(same(columns, { ...columns, last_name: '' })).toBe(false) // NULL is not ''
    expect(same(columns, columns, { a: '1' }, { a: '1' })).toBe(true)
    expect(same(columns, columns, undefined, {})).toBe(false) // custom fields kept on one side
    expect(same(columns, columns, { a: '1' }, { a: '1', b: '2' })).toBe(false)
    expect(same(columns, columns, { a: '1', b: '2' }, { a: '1' })).toBe(false)
  })

  it('withoutNulls keeps every other field as its own, even one named __proto__', () => {
    const record = JSON.parse('{"firstName":"Anna","email":null,"__proto__":"x"}') as Record<
      string,
      string | null
    >
    const present = withoutNulls(record)
    expect(Object.keys(present)).toEqual(['firstName', '__proto__'])
    expect(Object.getPrototypeOf(present)).toBe(Object.prototype)
    expect(present).toEqual(
      Object.fromEntries([
        ['firstName', 'Anna'],
        ['__proto__', 'x'],
      ]),
    )
  })

  it('only the columns changed since last seen are a local edit', () => {
    const seen = snapshot(entity, { first_name: 'Anna', last_name: 'Berg' }, { level: 'gold' })
    const row = { first_name: 'Anna', last_name: 'Lind' }
    const read = { fields: { firstName: 'Anna', lastName: 'Lind' }, custom: {} }
    expect(changedSince(entity, read, row, {}, seen)).toEqual({
      fields: { lastName: 'Lind' },
      custom: {},
      removedCustom: ['level'],
    })
  })
})
