import * as A from '@automerge/automerge'
import { describe, expect, it, vi } from 'vitest'
import type { FacetId, FacetName, InstanceId, ObjectId } from '../../src/model/index.ts'
import { ObjectSyncError, isObjectSyncError } from '../../src/errors.ts'
import { changeFacetDoc, readFacetBytes, type FacetDoc } from '../../src/store/facet-doc.ts'
import { readLinearFacet } from '../../src/store/facet-doc/linear.ts'
import { writeLinearEdit } from '../../src/store/facet-doc/linear-edit.ts'
import { ReceivedObjects } from '../../src/store/object-store/received-objects.ts'
import type { Accepts } from '../../src/store/object-store/types.ts'
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
    // An edit of an object not loaded appends its change without loading it (see
    // linear.test.ts); what is loaded with appended changes is compacted.
    await store.update(ids[0]!, { fields: { title: 'idle' } })
    expect(store.loadedObjects).toBe(0)
    await store.facetsOf(ids[0]!) // loads it
    expect((await keys(memory, `d/${ids[0]!}/`)).length).toBe(2)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await keys(memory, `d/${ids[0]!}/`)).toEqual([`d/${ids[0]!}/core/s`])

    await store.update(ids[1]!, { fields: { title: 'evicted' } })
    await store.facetsOf(ids[1]!)
    // Loading two other objects pushes ids[1] out of the two-object cache.
    await store.facetsOf(ids[0]!)
    await store.facetsOf(ids[2]!)
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(await keys(memory, `d/${ids[1]!}/`)).toEqual([`d/${ids[1]!}/core/s`])
    expect((await store.get(ids[1]!))?.fields.title).toBe('evicted')
    await store.close()
  })

  it('unloads objects left alone for unloadIdleMs, compacting them on the way out', async () => {
    const memory = new MemoryStorage()
    const store = await openStore(memory, { unloadIdleMs: 30, idleCompactionMs: 60_000 })
    const a = await store.create({ type: 'person', fields: anna })
    await store.facetsOf(a.id) // loads it
    await store.update(a.id, { fields: { title: 'loaded' } }) // appended to the loaded document
    expect(store.loadedObjects).toBe(1)
    expect((await keys(memory, `d/${a.id}/`)).length).toBe(2)
    await vi.waitFor(() => expect(store.loadedObjects).toBe(0), { timeout: 2_000, interval: 10 })
    await vi.waitFor(async () =>
      expect(await keys(memory, `d/${a.id}/`)).toEqual([`d/${a.id}/core/s`]),
    )
    expect((await store.get(a.id))?.fields.title).toBe('loaded')
    await store.close()
  })
})

describe('editing objects without loading them', () => {
  it('appends each edit as a change that reads as loading reads it, until compaction is due', async () => {
    const memory = new MemoryStorage()
    const store = await openStore(memory, {
      compactAfterChanges: 4,
      customFieldGroups: { giving: ['tier'] },
    })
    const made = await store.create({ type: 'person', fields: anna, custom: { shoe: '42' } })
    const edits = [
      { fields: { title: 'Dr', email: null } },
      { custom: { tier: 'gold' } }, // a new facet for the group
      { fields: { title: 'Prof' }, custom: { shoe: null } },
    ]
    for (const edit of edits) {
      const returned = await store.update(made.id, edit)
      expect(store.loadedObjects).toBe(0)
      expect(await store.get(made.id)).toEqual(returned)
    }
    expect(await store.get(made.id)).toMatchObject({
      fields: { title: 'Prof' },
      custom: { tier: 'gold' },
    })
    expect((await store.get(made.id))!.custom).not.toHaveProperty('shoe')
    expect((await store.get(made.id))!.fields).not.toHaveProperty('email')
    expect(await keys(memory, `d/${made.id}/core/`)).toHaveLength(3) // snapshot, 2 changes
    // Loaded, the object reads alike.
    const unloaded = await store.get(made.id)
    await store.facetsOf(made.id)
    expect(store.loadedObjects).toBe(1)
    expect(await store.get(made.id)).toEqual(unloaded)
    // Another object edited four times: the fourth change would make the fourth chunk, so
    // it is made on the loaded object, and compacted.
    const second = await store.create({ type: 'person', fields: anna })
    for (const title of ['Dr', 'Prof', 'Mx']) await store.update(second.id, { fields: { title } })
    expect(store.loadedObjects).toBe(1)
    await store.update(second.id, { fields: { title: 'Sir' } })
    expect(store.loadedObjects).toBe(2)
    expect(await keys(memory, `d/${second.id}/core/`)).toEqual([`d/${second.id}/core/s`])
    expect((await store.get(second.id))?.fields.title).toBe('Sir')
    await store.close()
  })
})

describe('the parts of objects read or written last', () => {
  it('serve the reads that follow an edit, and never outlive a write of the object', async () => {
    const memory = new MemoryStorage()
    const recording = new RecordingStorage(memory)
    const store = await openStore(recording, { compactAfterChanges: 3 })
    const made = await store.create({ type: 'person', fields: anna })
    const facet = `${made.id}/core` as FacetId
    const objectReads = () =>
      recording.reads.filter((read) => read.startsWith(`range d/${made.id}/`)).length
    // Read, edited, read again and sent: one range read of the object.
    await store.get(made.id)
    await store.update(made.id, { fields: { title: 'Dr' } })
    expect((await store.get(made.id))?.fields.title).toBe('Dr')
    expect(readFacetBytesTitle((await store.getFacetBytes(facet))!)).toBe('Dr')
    expect(objectReads()).toBe(1)
    // A write of another kind (a change made on the loaded object, compacted: the second
    // appended change would be the third part) is read from storage afterwards.
    await store.update(made.id, { fields: { title: 'Prof' } })
    await store.update(made.id, { fields: { title: 'Sir' } })
    expect(store.loadedObjects).toBe(1)
    expect(await keys(memory, `d/${made.id}/`)).toEqual([`d/${made.id}/core/s`])
    expect(readFacetBytesTitle((await store.getFacetBytes(facet))!)).toBe('Sir')
    expect(objectReads()).toBe(2)
    await store.close()
  })
})

function readFacetBytesTitle(bytes: Uint8Array): unknown {
  return readFacetBytes(bytes)?.fields.title
}

describe('receiving edits of objects as lines', () => {
  it('appends the changes a peer sends after the stored ones, checked, without loading', async () => {
    const a = await openStore(new MemoryStorage(), { instanceId: 'a' as InstanceId })
    const memoryB = new MemoryStorage()
    const b = await openStore(memoryB, { instanceId: 'b' as InstanceId })
    const made = await a.create({ type: 'person', fields: anna })
    const facet = `${made.id}/core` as FacetId
    const send = async (bytes?: Uint8Array, accepts?: Accepts) =>
      (
        await b.applyRemoteDocuments(
          [[facet, bytes ?? (await a.getFacetBytes(facet))!]],
          accepts,
          'a' as InstanceId,
        )
      )[0]!
    await send()
    await a.update(made.id, { fields: { title: 'Dr' } })
    await a.update(made.id, { fields: { title: 'Prof', email: null } })
    const applied = await send()
    expect(applied).toMatchObject({ changed: true, fields: ['email', 'title'] })
    expect(b.loadedObjects).toBe(0)
    expect(await keys(memoryB, `d/${made.id}/`)).toEqual([
      `d/${made.id}/core/c0000000001`,
      `d/${made.id}/core/s`,
    ])
    expect(await b.get(made.id)).toEqual(await a.get(made.id))
    expect((await b.readFeed(0)).at(-1)).toMatchObject({ facet, from: 'a' })
    // Sent again: nothing changes, nothing is written.
    const seq = b.lastSeq
    expect(await send()).toMatchObject({
      changed: false,
      fields: [],
      heads: await a.getHeads(facet),
    })
    expect(b.lastSeq).toBe(seq)

    // A change with a value the model refuses, or outside what the peer may send, is
    // refused and nothing of it is stored.
    const stored = (await a.getFacetBytes(facet))!
    const line = readLinearFacet(stored)!
    const bad = writeLinearEdit(
      line,
      { birthday: 'not a date' },
      { by: 'a' as InstanceId, at: Date.now() },
      'abcdef01',
      new Set(),
    ) as Uint8Array
    const refused = await send(Buffer.concat([stored, bad]))
    expect(refused).toBeInstanceOf(ObjectSyncError)
    expect((refused as ObjectSyncError).message).toMatch(/birthday/)
    await a.update(made.id, { fields: { title: 'Sir' } })
    const outside = await send(undefined, () => false)
    expect(isObjectSyncError(outside, 'INVALID_CHANGES')).toBe(true)
    expect((outside as ObjectSyncError).message).toMatch(/outside what this peer may send/)
    expect(b.lastSeq).toBe(seq)
    expect(await keys(memoryB, `d/${made.id}/`)).toHaveLength(2)
    expect((await b.get(made.id))?.fields.title).toBe('Prof')
    // Bytes that don't continue what is stored (a different line) go the general way.
    await b.update(made.id, { fields: { phone: '+47 1234' } })
    expect(await send()).toMatchObject({ changed: true })
    expect(await b.get(made.id)).toMatchObject({ fields: { title: 'Sir', phone: '+47 1234' } })
    await a.close()
    await b.close()
  })
})

describe('edits received, kept for the projection behind', () => {
  async function pair() {
    const a = await openStore(new MemoryStorage(), {
      instanceId: 'a' as InstanceId,
      customFieldGroups: { giving: ['tier'] },
    })
    const memoryB = new MemoryStorage()
    const openB = async () => {
      const opened = await openStore(memoryB, {
        instanceId: 'b' as InstanceId,
        customFieldGroups: { giving: ['tier'] },
      })
      opened.follow()
      return opened
    }
    const peers = { a, b: await openB() }
    const send = async (...facets: FacetId[]) =>
      peers.b.applyRemoteDocuments(
        await Promise.all(
          facets.map(async (facet) => [facet, (await a.getFacetBytes(facet))!] as const),
        ),
        undefined,
        'a' as InstanceId,
      )
    /** B closed and opened again: nothing of it loaded or kept. */
    const reopenB = async () => {
      await peers.b.close()
      peers.b = await openB()
      return peers.b
    }
    return { a, peers, send, reopenB }
  }

  it('read as the sender reads them, and as edited here after', async () => {
    const { a, peers, send } = await pair()
    const b = peers.b
    const made = await a.create({ type: 'person', fields: anna })
    const facet = `${made.id}/core` as FacetId
    await send(facet)
    await b.get(made.id) // the first sync's copy, read
    await a.update(made.id, { fields: { title: 'Dr' } })
    await send(facet)
    expect(await b.get(made.id)).toEqual(await a.get(made.id))
    expect(b.loadedObjects).toBe(0)
    // Received, then edited here before anyone read it: the edit shows.
    await a.update(made.id, { fields: { title: 'Prof' } })
    await send(facet)
    await b.update(made.id, { fields: { phone: '+47 1' } })
    expect(await b.get(made.id)).toMatchObject({ fields: { title: 'Prof', phone: '+47 1' } })
    await a.close()
    await b.close()
  })

  it('an object of two facets reads with both; two versions in one batch read as the last', async () => {
    const { a, send, reopenB } = await pair()
    const made = await a.create({ type: 'person', fields: anna, custom: { tier: 'gold' } })
    const core = `${made.id}/core` as FacetId
    const giving = `${made.id}/custom:giving` as FacetId
    await send(core, giving)
    let b = await reopenB()
    await a.update(made.id, { fields: { title: 'Dr' } })
    await send(core)
    expect(b.loadedObjects).toBe(0) // appended as a line, not loaded
    expect(await b.get(made.id)).toEqual(await a.get(made.id))
    expect((await b.get(made.id))?.custom).toEqual({ tier: 'gold' })
    b = await reopenB()

    const other = await a.create({ type: 'person', fields: anna })
    const facet = `${other.id}/core` as FacetId
    await send(facet)
    await b.get(other.id)
    await a.update(other.id, { fields: { title: 'v1' } })
    const first = (await a.getFacetBytes(facet))!
    await a.update(other.id, { fields: { title: 'v2' } })
    const second = (await a.getFacetBytes(facet))!
    await b.applyRemoteDocuments(
      [
        [facet, first],
        [facet, second],
      ],
      undefined,
      'a' as InstanceId,
    )
    expect((await b.get(other.id))?.fields.title).toBe('v2')
    await a.close()
    await b.close()
  })
})

describe('a facet sent again as stored', () => {
  it('answers with the heads of what is stored, also when they are concurrent', async () => {
    const a = await openStore(new MemoryStorage(), { instanceId: 'a' as InstanceId })
    const made = await a.create({ type: 'person', fields: anna })
    const facet = `${made.id}/core` as FacetId
    const created = (await a.getFacetBytes(facet))!
    const edits = ['aaaaaaaa', 'bbbbbbbb'].map((actor, i) => {
      const doc = A.load<FacetDoc>(created, { actor })
      const next = changeFacetDoc(
        doc,
        { title: `t${i}` },
        { by: 'a' as InstanceId, at: 2_000 + i },
      )!
      const change = A.getLastLocalChange(next)!
      A.free(next)
      return change
    })
    const bytes = Buffer.concat([created, ...edits])
    const expected = A.load<FacetDoc>(bytes)
    const heads = A.getHeads(expected).sort()
    A.free(expected)
    expect(heads).toHaveLength(2)
    const c = await openStore(new MemoryStorage(), { instanceId: 'c' as InstanceId })
    const send = async () =>
      (await c.applyRemoteDocuments([[facet, bytes]], undefined, 'a' as InstanceId))[0]!
    expect(await send()).toMatchObject({ changed: true })
    const again = (await send()) as { changed: boolean; heads: string[] }
    expect(again.changed).toBe(false)
    expect([...again.heads].sort()).toEqual(heads)
    await a.close()
    await c.close()
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
    b.follow()
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
    // Edited without loading it: read from storage, not as it was received.
    expect(b.loadedObjects).toBe(0)
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
