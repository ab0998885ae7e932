// A change may claim to number its ops from anywhere: a peer's edit starting at op
// 5,000,000 applies in a millisecond, but the document saved with it takes Automerge
// 360 MB to load (it makes room for every op number up to the highest), and at 50,000,000
// the load runs out of memory. Every path from a peer refuses op numbers past the ops the
// document would hold (deletes included), with the reason, storing nothing; honest
// histories, deletes and all, pass.
import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { oversizedColumns } from '../../src/store/change-reader/row-count.ts'
import { changeFacetDoc, type FacetDoc } from '../../src/store/facet-doc.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { EDITING_PEER, storeWithPerson } from '../helpers/change-bytes.ts'
import { anna, openStore } from '../helpers/stores.ts'

const peer = EDITING_PEER
const FAR = 5_000_000

/** The change with its ops numbered from `startOp` (its hash follows). */
function numberedFrom(change: Uint8Array, startOp: number): Uint8Array {
  const decoded: Partial<A.DecodedChange> = { ...A.decodeChange(change), startOp }
  delete decoded.hash
  return A.encodeChange(decoded as A.DecodedChange)
}

function expectRefusedForOpNumbers(result: unknown): void {
  expect(isObjectSyncError(result, 'INVALID_CHANGES')).toBe(true)
  expect((result as Error).message).toMatch(/ops up to 5,000,00\d, past the [\d,]+ ops/)
}

async function expectUnchanged(
  store: ObjectStore,
  object: ObjectId,
  facet: FacetId,
  stored: Uint8Array,
) {
  expect(await store.getFacetBytes(facet)).toEqual(stored)
  expect((await store.get(object))?.fields.firstName).toBe('Anna')
}

describe('op numbers a change claims', () => {
  it('are refused past the ops held, as changes, with the stored facet unchanged', async () => {
    const { store, object, facet, stored, edit } = await storeWithPerson()
    const evil = numberedFrom(edit, FAR)
    expect(A.decodeChange(evil).startOp).toBe(FAR)
    const refused = await store
      .applyRemoteChanges(facet, [evil], peer)
      .catch((error: unknown) => error)
    expectRefusedForOpNumbers(refused)
    await expectUnchanged(store, object, facet, stored)
    // The honest edit still goes through.
    expect(await store.applyRemoteChanges(facet, [edit], peer)).toMatchObject({
      changed: true,
      fields: ['firstName'],
    })
    await store.close()
  })

  it('are refused when they wait for a dependency that arrives later', async () => {
    const { store, object, facet, stored, edit } = await storeWithPerson()
    // A second edit after the honest one, its ops numbered far away: it waits for the
    // first, and is checked when that arrives with it.
    const doc = A.load<FacetDoc>(stored, { actor: 'eeeeeeee' })
    const [withEdit] = A.applyChanges(doc, [edit])
    const later = changeFacetDoc(withEdit, { lastName: 'M' }, { by: peer, at: 2_000_001 })!
    const evil = numberedFrom(A.getLastLocalChange(later)!, FAR)
    A.free(later)
    const waiting = await store.applyRemoteChanges(facet, [evil], peer)
    expect(waiting.changed).toBe(false)
    const refused = await store
      .applyRemoteChanges(facet, [edit, evil], peer)
      .catch((error: unknown) => error)
    expectRefusedForOpNumbers(refused)
    await expectUnchanged(store, object, facet, stored)
    // The same, when the dependency comes as a whole document (honest bytes) after the
    // far-numbered change waited in the cached document.
    expect((await store.applyRemoteChanges(facet, [evil], peer)).changed).toBe(false)
    const whole = Uint8Array.from([...stored, ...edit])
    const results = [
      await store.applyRemoteDocument(facet, whole, peer).catch((error: unknown) => error),
    ]
    expect((await store.applyRemoteChanges(facet, [evil], peer)).changed).toBe(false)
    results.push(...(await store.applyRemoteDocuments([[facet, whole]], undefined, peer)))
    for (const result of results) expectRefusedForOpNumbers(result)
    await expectUnchanged(store, object, facet, stored)
    // Once the far-numbered change is no longer waiting, the honest document goes in.
    expect(await store.applyRemoteDocument(facet, whole, peer)).toMatchObject({ changed: true })
    await store.close()
  })

  it('are refused in documents, saved or as chunks, on every document path', async () => {
    for (const form of ['saved', 'chunks'] as const) {
      const { store: holder, object, facet, stored, edit } = await storeWithPerson()
      const evil = numberedFrom(edit, FAR)
      let bytes: Uint8Array = Uint8Array.from([...stored, ...evil])
      if (form === 'saved') {
        const [poisoned] = A.applyChanges(A.load<FacetDoc>(stored), [evil])
        bytes = A.save(poisoned) // 360 MB for Automerge to load again
        A.free(poisoned)
        expect(bytes.length).toBeLessThan(1_000)
        expect(oversizedColumns(bytes, 0)).toMatch(/ops up to 5,000,00\d/)
      }
      // Into the store that has the object, and into one that has not.
      const fresh = await openStore(new MemoryStorage(), { instanceId: 'c' as InstanceId })
      const started = performance.now()
      const results = [
        await holder.applyRemoteDocument(facet, bytes, peer).catch((e: unknown) => e),
        ...(await holder.applyRemoteDocuments([[facet, bytes]], undefined, peer)),
        await fresh.applyRemoteDocument(facet, bytes, peer).catch((e: unknown) => e),
        ...(await fresh.applyRemoteDocuments([[facet, bytes]], undefined, peer)),
      ]
      expect(performance.now() - started).toBeLessThan(5_000)
      results.forEach(expectRefusedForOpNumbers)
      await expectUnchanged(holder, object, facet, stored)
      expect(await fresh.getFacetBytes(facet)).toBeUndefined()
      await holder.close()
      await fresh.close()
    }
  })

  it('pass for honest histories full of deletes, saved and as changes', async () => {
    // A document keeps no delete ops: its highest op number is past its stored ops.
    let doc = A.from<{ list: number[]; x?: number }>({ list: [] })
    for (let round = 0; round < 20; round++) {
      doc = A.change(doc, (d) => {
        for (let i = 0; i < 50; i++) d.list.push(i)
      })
      doc = A.change(doc, (d) => {
        d.list.splice(0, 50)
        d.x = round
      })
      doc = A.change(doc, (d) => {
        delete d.x
      })
    }
    const highest = Math.max(...A.getChangesMetaSince(doc, []).map((change) => change.maxOp))
    expect(highest).toBeGreaterThan(A.stats(doc).numOps + 1_000)
    expect(oversizedColumns(A.save(doc), 0)).toBeUndefined()
    expect(
      oversizedColumns(Uint8Array.from(A.getAllChanges(doc).flatMap((c) => [...c])), 0),
    ).toBeUndefined()

    // In the store: fields set and cleared many times, then a peer's edit on top, as
    // changes — past the stored ops, within the ops of all changes.
    const a = await openStore(new MemoryStorage(), { instanceId: peer })
    const b = await openStore(new MemoryStorage(), { instanceId: 'b' as InstanceId })
    const made = await a.create({ type: 'person', fields: anna })
    const facet = `${made.id}/core` as FacetId
    await b.applyRemoteChanges(facet, (await a.getChangesSince(facet, []))!, peer)
    for (let i = 0; i < 20; i++) {
      const heads = (await b.getHeads(facet))!
      await a.update(made.id, { fields: { title: `t${i}`, email: null } })
      await a.update(made.id, { fields: { title: null, email: `e${i}@example.org` } })
      const changes = (await a.getChangesSince(facet, heads))!
      expect((await b.applyRemoteChanges(facet, changes, peer)).changed).toBe(true)
    }
    expect(await b.get(made.id)).toEqual(await a.get(made.id))
    await a.close()
    await b.close()
  })
})
