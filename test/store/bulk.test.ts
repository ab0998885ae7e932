import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { STORAGE_KINDS, anna, openStore } from '../helpers/stores.ts'

for (const kind of STORAGE_KINDS) {
  describe(`bulk paths of the store on ${kind.name} storage`, () => {
    it('scans every facet in pages and ships them whole to another store', async () => {
      const a = await openStore(kind.location()(), {
        instanceId: 'a' as InstanceId,
        compactAfterChanges: 100,
      })
      const b = await openStore(kind.location()(), { instanceId: 'b' as InstanceId })
      const ids: ObjectId[] = []
      for (let i = 0; i < 40; i++) {
        const created = await a.create({
          type: 'person',
          fields: { ...anna, firstName: `P${i}` },
          custom: { n: i },
        })
        ids.push(created.id)
      }
      // Appended changes (not yet compacted) travel too.
      await a.update(ids[0]!, { fields: { title: 'appended' } })
      let after: string | undefined
      let pages = 0
      const seen = new Set<string>()
      do {
        const page = await a.scanFacets(
          after === undefined ? { maxBytes: 2000 } : { after, maxBytes: 2000 },
        )
        for (const { facet, bytes } of page.facets) {
          seen.add(facet)
          expect((await b.applyRemoteDocument(facet, bytes)).changed).toBe(true)
        }
        after = page.next
        pages++
      } while (after !== undefined)
      expect(pages).toBeGreaterThan(3)
      expect(seen.size).toBe(80)
      for (const id of ids) expect(await b.get(id)).toEqual(await a.get(id))
      expect(b.lastSeq).toBe(80)

      // Shipping the same again changes nothing and adds nothing to the feed.
      const facet = `${ids[0]!}/core` as FacetId
      const again = await b.applyRemoteDocument(facet, (await a.getFacetBytes(facet))!)
      expect(again.changed).toBe(false)
      expect(b.lastSeq).toBe(80)

      // A later edit ships as the whole facet and merges.
      await a.update(ids[0]!, { fields: { phone: '+47 1' } })
      const merged = await b.applyRemoteDocument(facet, (await a.getFacetBytes(facet))!)
      expect(merged).toMatchObject({ changed: true, fields: ['phone'] })
      expect((await b.get(ids[0]!))?.fields.phone).toBe('+47 1')
      await Promise.all([a.close(), b.close()])
    })

    it('refuses a document that does not load, storing nothing', async () => {
      const b = await openStore(kind.location()())
      const facet = '01ARZ3NDEKTSV4RRFFQ69G5FAV/core' as FacetId
      const error = await b.applyRemoteDocument(facet, new Uint8Array([1, 2, 3])).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isObjectSyncError(error, 'INVALID_CHANGES')).toBe(true)
      expect((error as Error).message).toContain(facet)
      expect(b.lastSeq).toBe(0)
      expect(await b.getFacetBytes(facet)).toBeUndefined()
      await b.close()
    })

    it('keeps sync state across reopening', async () => {
      const open = kind.location()
      const store = await openStore(open())
      await store.putSyncState('peer-x/received', new Uint8Array([1, 2]))
      await store.close()
      const again = await openStore(open())
      expect([...(await again.getSyncState('peer-x/received'))!]).toEqual([1, 2])
      expect(await again.getSyncState('peer-y/received')).toBeUndefined()
      await again.close()
    })
  })
}
