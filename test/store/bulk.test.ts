import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { STORAGE_KINDS, anna, openStore } from '../helpers/stores.ts'

for (const kind of STORAGE_KINDS) {
  describe(`bulk paths of the store on ${kind.name} storage`, () => {
    it('records in the feed which peer a change came from; a touch changes nothing', async () => {
      const a = await openStore(kind.location()(), { instanceId: 'a' as InstanceId })
      const b = await openStore(kind.location()(), { instanceId: 'b' as InstanceId })
      const created = await a.create({ type: 'person', fields: anna })
      const facet = `${created.id}/core` as FacetId
      const bytes = (await a.getFacetBytes(facet))!
      await b.applyRemoteDocuments([[facet, bytes]], undefined, 'a' as InstanceId)
      await b.update(created.id, { fields: { title: 'Dr' } })
      const heads = await b.getHeads(facet)
      await b.touch(created.id)
      await b.touch('0000000000000000000000z' as ObjectId) // no such object: nothing
      expect(await b.getHeads(facet)).toEqual(heads)
      const feed = await b.readFeed(0)
      expect(feed.map(({ from, touch }) => ({ from, touch }))).toEqual([
        { from: 'a', touch: undefined },
        { from: undefined, touch: undefined },
        { from: undefined, touch: true },
      ])
      expect((await a.readFeed(0))[0]!.from).toBeUndefined()
      await a.close()
      await b.close()
    })

    it('creates many objects in one commit, refusing bad ones item by item', async () => {
      const store = await openStore(kind.location()())
      const made = await store.createMany(
        [
          { input: { type: 'person', fields: anna, custom: { tier: 'gold' } }, options: {} },
          { input: { type: 'person', fields: { firstName: 'No last name' } }, options: {} },
          { input: { type: 'file', fields: { name: 'cv.pdf' } }, options: {} },
          { input: { type: 'organization', fields: { name: 'Acme' } }, options: { at: 1000 } },
        ],
        (objects) =>
          objects.flatMap((object) =>
            isObjectSyncError(object) ? [] : [[`test/${object.id}`, new Uint8Array([1])] as const],
          ),
      )
      expect(made.map((item) => (isObjectSyncError(item) ? item.code : item.type))).toEqual([
        'person',
        'INVALID_OBJECT',
        'file', // a file with no content yet
        'organization',
      ])
      const [person, , , organization] = made as { id: ObjectId }[]
      expect((await store.get(person!.id))?.custom).toEqual({ tier: 'gold' })
      expect((await store.get(organization!.id))?.updatedAt).toBe(new Date(1000).toISOString())
      // The caller's entries are written with them.
      expect([...((await store.getSyncState(`test/${person!.id}`)) ?? [])]).toEqual([1])
      expect(await store.count('person')).toBe(1)
      // person core + custom, file, organization
      expect((await store.readFeed(0)).length).toBe(4)
      // Files too: one whose content is held here, and one whose content is not.
      const { sha256 } = await store.blobs.put(new TextEncoder().encode('a résumé'))
      const file = (name: string, sha: string) => ({
        input: { type: 'file' as const, fields: { ownerId: person!.id, name, sha256: sha } },
        options: {},
      })
      const files = await store.createMany([
        file('cv.txt', sha256),
        file('gone.txt', 'ab'.repeat(32)),
      ])
      expect(files.map((item) => (isObjectSyncError(item) ? item.code : item.fields.size))).toEqual(
        [10, 'BLOB_NOT_FOUND'], // 'a résumé' is 10 bytes in UTF-8
      )
      await store.close()
    })

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

describe('applyRemoteDocuments', () => {
  it('applies a mixed batch: new facets fast, existing ones merged, bad ones refused alone', async () => {
    const kind = STORAGE_KINDS[1]!
    const a = await openStore(kind.location()(), { instanceId: 'a' as InstanceId })
    const b = await openStore(kind.location()(), { instanceId: 'b' as InstanceId })
    const fresh = await a.create({ type: 'person', fields: anna })
    const shared = await a.create({ type: 'organization', fields: { name: 'Acme' } })
    const sharedFacet = `${shared.id}/core` as FacetId
    await b.applyRemoteDocument(sharedFacet, (await a.getFacetBytes(sharedFacet))!)
    await a.update(shared.id, { fields: { website: 'https://acme.example' } })
    const freshFacet = `${fresh.id}/core` as FacetId
    const badFacet = '01ARZ3NDEKTSV4RRFFQ69G5FAV/core' as FacetId
    // A well-formed change whose field fails validation, in the fast form.
    const { encodeNewFacet } = await import('../../src/store/facet-doc.ts')
    const invalid = encodeNewFacet(
      'person',
      { firstName: 'x', lastName: 'y', birthday: 'soon' },
      { by: 'm' as InstanceId, at: 1 },
      'abcd',
    )
    const seq = b.lastSeq
    const outcomes = await b.applyRemoteDocuments([
      [freshFacet, (await a.getFacetBytes(freshFacet))!],
      [sharedFacet, (await a.getFacetBytes(sharedFacet))!],
      [badFacet, new Uint8Array([9, 9, 9])],
      ['01ARZ3NDEKTSV4RRFFQ69G5FAW/core' as FacetId, invalid],
    ])
    expect(outcomes[0]).toMatchObject({
      changed: true,
      storedAsReceived: true,
      fields: ['email', 'firstName', 'lastName'],
    })
    expect(outcomes[1]).toMatchObject({ changed: true, fields: ['website'] })
    expect(isObjectSyncError(outcomes[2], 'INVALID_CHANGES')).toBe(true)
    expect(isObjectSyncError(outcomes[3], 'INVALID_CHANGES')).toBe(true)
    expect((outcomes[3] as Error).message).toContain('person.fields.birthday')
    expect(b.lastSeq).toBe(seq + 2)
    expect(await b.get(fresh.id)).toEqual(await a.get(fresh.id))
    expect((await b.get(shared.id))?.fields.website).toBe('https://acme.example')
    expect(await b.get('01ARZ3NDEKTSV4RRFFQ69G5FAW' as ObjectId)).toBeUndefined()
    await Promise.all([a.close(), b.close()])
  })

  it('regression: two batches racing to bring the same new object store it once', async () => {
    const kind = STORAGE_KINDS[1]!
    const a = await openStore(kind.location()(), { instanceId: 'a' as InstanceId })
    const b = await openStore(kind.location()(), { instanceId: 'b' as InstanceId })
    const created = await a.create({ type: 'person', fields: anna })
    const facet = `${created.id}/core` as FacetId
    const bytes = (await a.getFacetBytes(facet))!
    // Both look the object up before either holds its lock; only one may create it.
    const [first, second] = await Promise.all([
      b.applyRemoteDocuments([[facet, bytes]]),
      b.applyRemoteDocuments([[facet, bytes]]),
    ])
    expect(
      [first[0], second[0]].map((outcome) => (outcome as { changed: boolean }).changed).sort(),
    ).toEqual([false, true])
    expect((await b.readFeed(0)).filter((entry) => entry.facet === facet)).toHaveLength(1)
    expect(await b.get(created.id)).toEqual(await a.get(created.id))
    await Promise.all([a.close(), b.close()])
  })
})

describe('applyRemoteDocuments against objects that exist', () => {
  it('regression: a facet claiming another type cannot replace an object here', async () => {
    const { encodeNewFacet } = await import('../../src/store/facet-doc.ts')
    const b = await openStore(STORAGE_KINDS[1]!.location()(), { instanceId: 'b' as InstanceId })
    const person = await b.create({ type: 'person', fields: anna })
    const forged = encodeNewFacet(
      'organization',
      { name: 'Evil' },
      { by: 'm' as InstanceId, at: 1 },
      'abcd',
    )
    const seq = b.lastSeq
    const [outcome] = await b.applyRemoteDocuments(
      [[`${person.id}/core` as FacetId, forged]],
      (type) => type === 'organization',
    )
    expect(isObjectSyncError(outcome, 'INVALID_CHANGES')).toBe(true)
    expect(await b.get(person.id)).toMatchObject({ type: 'person', fields: anna })
    expect(b.lastSeq).toBe(seq)
    await b.close()
  })

  it('a facet with concurrent values that is new here lands in the conflict inbox', async () => {
    const a = await openStore(STORAGE_KINDS[0]!.location()(), { instanceId: 'a' as InstanceId })
    const b = await openStore(STORAGE_KINDS[0]!.location()(), { instanceId: 'b' as InstanceId })
    const c = await openStore(STORAGE_KINDS[0]!.location()(), { instanceId: 'c' as InstanceId })
    const created = await a.create({ type: 'person', fields: anna })
    const facet = `${created.id}/core` as FacetId
    await b.applyRemoteDocument(facet, (await a.getFacetBytes(facet))!)
    await a.update(created.id, { fields: { title: 'from a' } })
    await b.update(created.id, { fields: { title: 'from b' } })
    await b.applyRemoteDocument(facet, (await a.getFacetBytes(facet))!)
    await c.applyRemoteDocuments([[facet, (await b.getFacetBytes(facet))!]])
    expect((await c.get(created.id))!.conflicts).toEqual(['title'])
    expect((await c.listConflicts()).map((entry) => entry.field)).toEqual(['title'])
    await Promise.all([a.close(), b.close(), c.close()])
  })
})
