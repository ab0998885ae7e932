import { afterEach, describe, expect, it } from 'vitest'
import { Links } from '../../src/local/local-sync/links.ts'
import { newObjectId, type InstanceId, type ObjectId } from '../../src/model/index.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { openStore } from '../helpers/stores.ts'

const PEER = 'peer-north' as InstanceId

describe('the links between local records and objects', () => {
  let store: ObjectStore | undefined
  afterEach(async () => {
    await store?.close()
    store = undefined
  })

  const linksOf = (opened: ObjectStore) =>
    new Links({ store: opened, mapping: new Map(), instanceId: 'here' as InstanceId })

  it('keeps each type apart, and reads back from the store as it was saved', async () => {
    store = await openStore(new MemoryStorage(), { instanceId: 'here' as InstanceId })
    const links = linksOf(store)
    expect(links.hasAny()).toBe(false)
    const person = newObjectId()
    const organization = newObjectId()
    // A key longer than V8 copies when it cuts one string out of another.
    const longKey = 'a-record-key-of-some-length-0001'
    await links.saveMany([
      [person, { type: 'person', key: longKey, seen: undefined, origin: PEER }],
      [organization, { type: 'organization', key: longKey, seen: undefined }],
    ])
    for (const read of [links, linksOf(store)]) {
      if (read !== links) await read.load()
      expect(read.hasAny()).toBe(true)
      expect(read.objectOf('person', longKey)).toBe(person)
      expect(read.objectOf('organization', longKey)).toBe(organization)
      expect(read.objectOf('transaction', longKey)).toBeUndefined()
      expect(read.keyOf(person)).toBe(longKey)
      expect(read.originNow(person)).toBe(PEER)
      expect(read.originNow(organization)).toBeUndefined()
      expect(read.recordsOf('person')).toEqual([[longKey, person]])
      expect(read.recordsOf('organization')).toEqual([[longKey, organization]])
      expect(read.recordsOf('transaction')).toEqual([])
    }
  })

  it('moves a record to another object, and unlinks a row to drop it', async () => {
    store = await openStore(new MemoryStorage(), { instanceId: 'here' as InstanceId })
    const links = linksOf(store)
    const [first, second, kept] = [newObjectId(), newObjectId(), newObjectId()] as ObjectId[]
    await links.saveMany([
      [first!, { type: 'person', key: 'p1', seen: undefined }],
      [second!, { type: 'person', key: 'p2', seen: undefined }],
    ])
    await links.move(first!, kept!, 'person', 'p1')
    await links.unlinkToDrop(second!, 'person', 'p2')
    for (const read of [links, linksOf(store)]) {
      if (read !== links) await read.load()
      expect(read.objectOf('person', 'p1')).toBe(kept)
      expect(read.keyOf(first!)).toBeUndefined()
      expect(read.keyOf(kept!)).toBe('p1')
      expect(read.objectOf('person', 'p2')).toBeUndefined()
      expect(read.isDropping('person', 'p2')).toBe(true)
      expect(read.recordsOf('person')).toEqual([['p1', kept]])
    }
  })

  it('leaves out of its records an object merged away, and has none once the last goes', async () => {
    store = await openStore(new MemoryStorage(), { instanceId: 'here' as InstanceId })
    const links = linksOf(store)
    const [merged, reviewed] = [newObjectId(), newObjectId()] as ObjectId[]
    await links.saveMany([[merged!, { type: 'person', key: 'p1', seen: undefined }]])
    await links.merge(merged!, reviewed!)
    // The record's link names the merged object until its link to the kept one is saved.
    expect(links.objectOf('person', 'p1')).toBe(merged)
    expect(links.keyOf(merged!)).toBeUndefined()
    expect(links.recordsOf('person')).toEqual([])
    await links.unlinkToDrop(merged!, 'person', 'p1')
    expect(links.hasAny()).toBe(false)
    const loaded = linksOf(store)
    await loaded.load()
    expect(loaded.hasAny()).toBe(false)
  })
})
