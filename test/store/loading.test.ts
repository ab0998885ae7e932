import { describe, expect, it } from 'vitest'
import type { FacetId, FacetName, InstanceId, ObjectId } from '../../src/model/index.ts'
import { ReceivedObjects } from '../../src/store/object-store/received-objects.ts'
import {
  MemoryStorage,
  type RangeOptions,
  type StorageAdapter,
  type StorageOp,
} from '../../src/store/index.ts'
import { anna, openStore } from '../helpers/stores.ts'

/** Wraps a storage and records every key range and key it is asked for. */
class RecordingStorage implements StorageAdapter {
  readonly reads: string[] = []
  constructor(private readonly inner: StorageAdapter) {}
  open = () => this.inner.open()
  close = () => this.inner.close()
  get(key: string) {
    this.reads.push(key)
    return this.inner.get(key)
  }
  getMany(keys: readonly string[]) {
    this.reads.push(...keys)
    return this.inner.getMany(keys)
  }
  write(ops: readonly StorageOp[]) {
    return this.inner.write(ops)
  }
  range(options: RangeOptions) {
    this.reads.push(`range ${options.gte ?? ''}..${options.lt ?? ''}`)
    return this.inner.range(options)
  }
}

async function keys(storage: StorageAdapter, prefix: string): Promise<string[]> {
  const found: string[] = []
  for await (const [key] of storage.range({ gte: prefix, lt: `${prefix}\uffff` })) found.push(key)
  return found
}

describe('loading and compaction', () => {
  it('opening a store loads no document', async () => {
    const memory = new MemoryStorage()
    const store = await openStore(memory)
    for (let i = 0; i < 300; i++) {
      await store.create({ type: 'person', fields: { firstName: `${i}`, lastName: 'L' } })
    }
    await store.close()
    const recording = new RecordingStorage(memory)
    const reopened = await openStore(recording)
    expect(reopened.loadedObjects).toBe(0)
    expect(reopened.lastSeq).toBe(300)
    expect(recording.reads.filter((read) => read.includes('d/'))).toEqual([])
    // The layout version, the feed's last entry, and the merge index (g/: merged objects
    // only, none here), whatever the number of objects.
    expect(recording.reads.length).toBeLessThanOrEqual(3)
    expect(recording.reads.filter((read) => read.startsWith('range g/'))).toHaveLength(1)
    await reopened.close()
  })

  it('folds appended changes into a snapshot after compactAfterChanges', async () => {
    const memory = new MemoryStorage()
    const store = await openStore(memory, { compactAfterChanges: 3, idleCompactionMs: 60_000 })
    const a = await store.create({ type: 'person', fields: anna })
    const prefix = `d/${a.id}/core/`
    await store.update(a.id, { fields: { title: '1' } })
    await store.update(a.id, { fields: { title: '2' } })
    expect(await keys(memory, prefix)).toEqual([
      `${prefix}c0000000001`,
      `${prefix}c0000000002`,
      `${prefix}s`,
    ])
    await store.update(a.id, { fields: { title: '3' } })
    expect(await keys(memory, prefix)).toEqual([`${prefix}s`])
    await store.update(a.id, { fields: { title: '4' } })
    expect(await keys(memory, prefix)).toEqual([`${prefix}c0000000003`, `${prefix}s`])
    await store.close()
    // Closing compacts what was still appended.
    const reopened = await openStore(memory)
    expect(await keys(memory, prefix)).toEqual([`${prefix}s`])
    expect((await reopened.get(a.id))?.fields.title).toBe('4')
    await reopened.close()
  })

  it('compacts when the store has been idle, and when an object leaves the cache', async () => {
    const memory = new MemoryStorage()
    const store = await openStore(memory, { idleCompactionMs: 20, cacheSize: 2 })
    const ids: ObjectId[] = []
    for (let i = 0; i < 3; i++) ids.push((await store.create({ type: 'person', fields: anna })).id)
    await store.update(ids[0]!, { fields: { title: 'idle' } })
    expect((await keys(memory, `d/${ids[0]!}/`)).length).toBe(2)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await keys(memory, `d/${ids[0]!}/`)).toEqual([`d/${ids[0]!}/core/s`])

    await store.update(ids[1]!, { fields: { title: 'evicted' } })
    // Loading two other objects pushes ids[1] out of the two-object cache (an object still
    // as created is read without loading it: ids[2] is loaded by changing it).
    await store.get(ids[0]!)
    await store.update(ids[2]!, { fields: { title: 'loaded' } })
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(await keys(memory, `d/${ids[1]!}/`)).toEqual([`d/${ids[1]!}/core/s`])
    expect((await store.get(ids[1]!))?.fields.title).toBe('evicted')
    await store.close()
  })
})

describe('reading objects still as created', () => {
  it('reads what loading the documents reads, and keeps no document loaded', async () => {
    const memory = new MemoryStorage()
    const store = await openStore(memory, { customFieldGroups: { giving: ['tier'] } })
    const made = [
      await store.create({ type: 'person', fields: { ...anna, roles: ['donor', 'member'] } }),
      await store.create({
        type: 'person',
        fields: anna,
        custom: { tier: 'gold', shoe: '42' },
      }),
      await store.create({ type: 'organization', fields: { name: 'Acme', favourite: true } }),
    ]
    const quick = await Promise.all(made.map((object) => store.get(object.id)))
    expect(store.loadedObjects).toBe(0)
    // facetsOf loads the documents (into the cache); get then reads those.
    for (const object of made) await store.facetsOf(object.id)
    expect(store.loadedObjects).toBe(made.length)
    const loaded = await Promise.all(made.map((object) => store.get(object.id)))
    expect(quick).toEqual(loaded)
    expect(quick[1]?.custom).toEqual({ tier: 'gold', shoe: '42' })
    await store.close()
  })

  it('loads an object changed since it was made', async () => {
    const memory = new MemoryStorage()
    const store = await openStore(memory, { cacheSize: 1 })
    const a = await store.create({ type: 'person', fields: anna })
    await store.update(a.id, { fields: { title: 'changed' } })
    const b = await store.create({ type: 'person', fields: anna })
    await store.update(b.id, { fields: { title: 'evicts a' } })
    expect((await store.get(a.id))?.fields.title).toBe('changed')
    await store.close()
  })
})

describe('objects as received', () => {
  it('read as loading reads them, until anything else is committed for them', async () => {
    const a = await openStore(new MemoryStorage(), { instanceId: 'a' as InstanceId })
    const b = await openStore(new MemoryStorage(), { instanceId: 'b' as InstanceId, cacheSize: 1 })
    b.keepReceived()
    const made = await a.create({ type: 'person', fields: { ...anna, roles: ['donor'] } })
    const facet = `${made.id}/core` as FacetId
    const bytes = (await a.getFacetBytes(facet))!
    await b.applyRemoteDocuments([[facet, bytes]], undefined, 'a' as InstanceId)
    const first = await b.get(made.id) // as kept on receipt
    const again = await b.get(made.id) // from its stored bytes
    expect(first).toEqual(again)
    expect(first).toEqual(await a.get(made.id))
    // A reader changing its copy changes nothing kept.
    first!.fields.firstName = 'Changed'
    expect((await b.get(made.id))?.fields.firstName).toBe(anna.firstName)
    // Received, then edited before anyone read it: the edit shows.
    const other = await a.create({ type: 'person', fields: anna })
    const otherFacet = `${other.id}/core` as FacetId
    await b.applyRemoteDocuments(
      [[otherFacet, (await a.getFacetBytes(otherFacet))!]],
      undefined,
      'a' as InstanceId,
    )
    await b.update(other.id, { fields: { title: 'Edited at B' } })
    // Out of the one-object cache: read from storage, not as it was received.
    const third = await b.create({ type: 'person', fields: anna })
    await b.update(third.id, { fields: { title: 'evicts the other' } })
    expect(b.loadedObjects).toBe(1)
    expect((await b.get(other.id))?.fields.title).toBe('Edited at B')
    await a.close()
    await b.close()
  })
})

describe('ReceivedObjects', () => {
  it('keeps at most its limit, the newest, and each is read once', () => {
    const kept = new ReceivedObjects(10)
    const content = { type: 'person' as const, fields: {}, meta: {}, deleted: false, heads: [] }
    const ids = Array.from({ length: 25 }, (_, i) => `id${String(i).padStart(2, '0')}` as ObjectId)
    for (const id of ids) kept.add(id, { facet: 'core' as FacetName, content })
    const present = ids.filter((id) => kept.take(id) !== undefined)
    expect(present.length).toBeLessThanOrEqual(10)
    expect(present).toContain(ids[24])
    expect(present).not.toContain(ids[0])
    expect(kept.take(ids[24]!)).toBeUndefined()
  })
})
