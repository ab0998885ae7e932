// Reading a peer's batches on a worker thread (store/object-store/store-worker.ts): the
// same reads as on the main thread, refusals included; a worker that dies or a store that
// closes while batches wait on it loses none and hangs nothing.
import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import { ObjectSyncError, isObjectSyncError } from '../../src/errors.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { silentLogger } from '../../src/log.ts'
import { createIdentity } from '../../src/net/index.ts'
import { MemoryStorage, provesAuthor } from '../../src/store/index.ts'
import { encodeNewFacet } from '../../src/store/facet-doc.ts'
import {
  StoreWorker,
  WORKER_MIN_ITEMS,
  readInline,
} from '../../src/store/object-store/store-worker.ts'
import { readLinearFacet } from '../../src/store/facet-doc/linear.ts'
import { isLineRead } from '../../src/store/object-store/line-read.ts'
import type { NewFacet } from '../../src/store/object-store/new-facets.ts'
import { STORAGE_KINDS, anna, openStore } from '../helpers/stores.ts'

const memory = STORAGE_KINDS[0]!

/** A batch as a peer sends one: real facets, then a few that must be refused. */
async function batchOf(count: number): Promise<[FacetId, Uint8Array][]> {
  const a = await openStore(memory.location()(), { instanceId: 'a' as InstanceId })
  const made = await a.createMany(
    Array.from({ length: count }, (_, index) => ({
      input: { type: 'person' as const, fields: { ...anna, firstName: `Anna ${index}` } },
      options: {},
    })),
  )
  const items: [FacetId, Uint8Array][] = []
  for (const object of made) {
    if (isObjectSyncError(object)) throw object
    const facet = `${object.id}/core` as FacetId
    items.push([facet, (await a.getFacetBytes(facet))!])
  }
  await a.close()
  const invalid = encodeNewFacet(
    'person',
    { firstName: 'x', lastName: 'y', birthday: 'soon' },
    { by: 'm' as InstanceId, at: 1 },
    'abcd',
  )
  // Not in the created form: read the document way, which refuses it.
  items.splice(3, 0, ['01ARZ3NDEKTSV4RRFFQ69G5FAV/core' as FacetId, new Uint8Array([9, 9, 9])])
  // In the created form, but its change's last byte changed: refused as it is read.
  const damaged = Uint8Array.from(items[1]![1])
  damaged[damaged.length - 1]! ^= 0xff
  items.splice(5, 0, ['01ARZ3NDEKTSV4RRFFQ69G5FAX/core' as FacetId, damaged])
  items.splice(7, 0, ['not a facet' as FacetId, items[0]![1]])
  items.splice(11, 0, ['01ARZ3NDEKTSV4RRFFQ69G5FAW/core' as FacetId, invalid])
  return items
}

/** A page of new facets to encode, each with the fields `fieldsOf` gives it. */
function pageOfFacets(
  by: InstanceId,
  fieldsOf: (index: number) => Record<string, string>,
): NewFacet[] {
  return Array.from({ length: WORKER_MIN_ITEMS }, (_, index) => ({
    facet: `0000000000000000000000000${index % 10}/core` as FacetId,
    type: 'person' as const,
    fields: fieldsOf(index),
    stamp: { by, at: 1 },
  }))
}

/** A main-thread fallback for `encode` that counts how often it ran. */
function countingHere(facets: readonly NewFacet[]): {
  here: () => Promise<Uint8Array[]>
  calls: number
} {
  const counted = {
    calls: 0,
    here: () => {
      counted.calls++
      return Promise.resolve(facets.map(() => new Uint8Array([1])))
    },
  }
  return counted
}

/** What a read says, comparable across threads. */
function summary(reads: readonly unknown[]): unknown[] {
  return reads.map((read) =>
    isObjectSyncError(read)
      ? { refused: read.message, code: read.code }
      : (read ?? 'document path'),
  )
}

describe('StoreWorker', () => {
  it('reads a large batch on the worker as the main thread does, refusals included', async () => {
    const items = await batchOf(WORKER_MIN_ITEMS + 20)
    const reader = new StoreWorker(silentLogger)
    const onWorker = await reader.read(items)
    expect(reader.started).toBe(true)
    const here = readInline(items)
    expect(summary(onWorker)).toEqual(summary(here))
    expect(onWorker[3]).toBeUndefined()
    expect((onWorker[5] as Error).message).toMatch(/could not be parsed/)
    expect((onWorker[7] as Error).message).toMatch(/not a facet id/)
    // The field check ran on the worker, and says why.
    const invalid = onWorker[11] as { fieldsProblem?: string }
    expect(invalid.fieldsProblem).toMatch(/birthday/)
    expect(onWorker.filter((read) => isObjectSyncError(read)).length).toBe(2)
    await reader.close()
  })

  it('reads a small batch at once, without a worker', async () => {
    const items = (await batchOf(4)).slice(0, 6)
    const reader = new StoreWorker(silentLogger)
    expect(summary(await reader.read(items))).toEqual(summary(readInline(items)))
    expect(reader.started).toBe(false)
    await reader.close()
  })

  it('a worker that dies reads what it held on the main thread, and every batch after', async () => {
    const items = await batchOf(WORKER_MIN_ITEMS)
    const reader = new StoreWorker(silentLogger)
    await reader.read(items) // started
    const waiting = [reader.read(items), reader.read(items)]
    expect(reader.waiting).toBe(2)
    await reader.killWorkerForTest()
    const reads = await Promise.all(waiting)
    for (const read of reads) expect(summary(read)).toEqual(summary(readInline(items)))
    expect(reader.waiting).toBe(0)
    expect(summary(await reader.read(items))).toEqual(summary(readInline(items)))
    expect(reader.started).toBe(false) // not started again
    await reader.close()
  })

  it('closing with batches waiting reads them here', async () => {
    const items = await batchOf(WORKER_MIN_ITEMS)
    const reader = new StoreWorker(silentLogger)
    const waiting = reader.read(items)
    await reader.close()
    expect(summary(await waiting)).toEqual(summary(readInline(items)))
  })
})

describe('a batch read ahead and applied', () => {
  it('stores the good facets and refuses the bad ones, each with its reason', async () => {
    const items = await batchOf(WORKER_MIN_ITEMS + 10)
    const b = await openStore(memory.location()(), { instanceId: 'b' as InstanceId })
    const reads = await b.prereadDocuments(items)
    // The reads given are the ones used: one made up here refuses its (good) facet.
    reads[20] = new ObjectSyncError('INVALID_CHANGES', 'refused by the read ahead')
    const outcomes = await b.applyRemoteDocuments(
      items,
      undefined,
      'a' as InstanceId,
      undefined,
      reads,
    )
    const refused = outcomes.flatMap((outcome, index) =>
      isObjectSyncError(outcome) ? [[index, outcome.message] as const] : [],
    )
    expect(refused.map(([index]) => index)).toEqual([3, 5, 7, 11, 20])
    expect(refused[4]![1]).toBe('refused by the read ahead')
    expect(refused[1]![1]).toMatch(/could not be parsed/)
    expect(refused[2]![1]).toMatch(/not a facet id/)
    expect(refused[3]![1]).toMatch(/refused: .*birthday/)
    expect(await b.count('person')).toBe(WORKER_MIN_ITEMS + 10 - 1)
    const first = items[0]![0].split('/')[0] as ObjectId
    expect((await b.get(first))?.fields.firstName).toBe('Anna 0')
    // Nothing of the refused ones is stored.
    expect(await b.get('01ARZ3NDEKTSV4RRFFQ69G5FAW' as ObjectId)).toBeUndefined()
    await b.close()
  })
})

/**
 * The facets of `count` persons made at a store, as a peer sends them after its first
 * sync (`created`), after an edit of each (`once`), and after another (`edited`: lines of
 * three changes; the second edit clears the title the first set).
 */
async function editedBatch(
  count: number,
): Promise<Record<'created' | 'once' | 'edited', [FacetId, Uint8Array][]>> {
  const a = await openStore(memory.location()(), { instanceId: 'a' as InstanceId })
  const made = await a.createMany(
    Array.from({ length: count }, (_, index) => ({
      input: { type: 'person' as const, fields: { ...anna, firstName: `Anna ${index}` } },
      options: {},
    })),
  )
  const bytesOf = async () => {
    const items: [FacetId, Uint8Array][] = []
    for (const object of made) {
      if (isObjectSyncError(object)) throw object
      const facet = `${object.id}/core` as FacetId
      items.push([facet, (await a.getFacetBytes(facet))!])
    }
    return items
  }
  const ids = made.map((object) => (object as { id: ObjectId }).id)
  const created = await bytesOf()
  for (const [index, id] of ids.entries()) {
    await a.update(id, { fields: { title: `title ${index}` } })
  }
  const once = await bytesOf()
  for (const [index, id] of ids.entries()) {
    await a.update(id, { fields: { title: null, phone: `+47 ${index}` } })
  }
  const edited = await bytesOf()
  await a.close()
  return { created, once, edited }
}

describe('lines read ahead on the worker', () => {
  it('reads each edited facet as the main thread reads the line, fields at every end', async () => {
    const { edited } = await editedBatch(WORKER_MIN_ITEMS)
    const reader = new StoreWorker(silentLogger)
    const reads = await reader.read(edited)
    expect(reader.started).toBe(true)
    for (const [index, read] of reads.entries()) {
      if (!isLineRead(read)) throw new Error(`item ${index} was not read as a line`)
      const bytes = edited[index]![1]
      const here = readLinearFacet(bytes)!
      const { fieldOps, metaOps, ...rest } = read.line
      const { fieldOps: fieldOpsHere, metaOps: metaOpsHere, ...restHere } = here
      expect(rest).toEqual(restHere)
      expect(fieldOps.entries()).toEqual(fieldOpsHere.entries())
      expect(metaOps.entries()).toEqual(metaOpsHere.entries())
      expect(read.line.ends).toHaveLength(3)
      expect(read.fieldsAtEnds).toEqual(
        read.line.ends.map((end) => readLinearFacet(bytes, { fieldsAt: end })!.fieldsAt),
      )
    }
    // On the main thread (a small batch) they are left to extendLine.
    expect(readInline(edited.slice(0, 3))).toEqual([undefined, undefined, undefined])
    await reader.close()
  })

  it('applies read-ahead lines as the main thread applies them', async () => {
    const { created, once, edited } = await editedBatch(WORKER_MIN_ITEMS + 3)
    const [ahead, here] = await Promise.all(
      ['b', 'c'].map((id) => openStore(memory.location()(), { instanceId: id as InstanceId })),
    )
    const applied: unknown[][] = []
    for (const store of [ahead!, here!]) {
      await store.applyRemoteDocuments(created, undefined, 'a' as InstanceId)
      // What is held here ends after the first edit: the lines are read up to their middle.
      await store.applyRemoteDocuments(once, undefined, 'a' as InstanceId)
      const reads = store === ahead ? await store.prereadDocuments(edited) : undefined
      if (reads !== undefined) expect(reads.every((read) => isLineRead(read))).toBe(true)
      applied.push(
        await store.applyRemoteDocuments(edited, undefined, 'a' as InstanceId, undefined, reads),
      )
    }
    expect(applied[0]).toEqual(applied[1])
    // The title changed from what is held here (the first edit's), back to none.
    // Continued as a line (extendLine), as the read ahead was made for.
    expect(applied[0]![0]).toMatchObject({
      changed: true,
      fields: ['phone', 'title'],
      storedAsReceived: true,
      continuedLine: true,
    })
    for (const [facet, bytes] of edited) {
      const id = facet.split('/')[0] as ObjectId
      expect(await ahead!.get(id)).toEqual(await here!.get(id))
      expect(await ahead!.getFacetBytes(facet)).toEqual(bytes)
    }
    await Promise.all([ahead!.close(), here!.close()])
  })

  it('a damaged line in a large batch is left to the main thread, which takes nothing of it', async () => {
    const { created, once, edited } = await editedBatch(WORKER_MIN_ITEMS)
    const b = await openStore(memory.location()(), { instanceId: 'b' as InstanceId })
    await b.applyRemoteDocuments(created, undefined, 'a' as InstanceId)
    await b.applyRemoteDocuments(once, undefined, 'a' as InstanceId)
    // The last change's last byte changed: it no longer reads as its checksum says.
    const damaged = Uint8Array.from(edited[4]![1])
    damaged[damaged.length - 1]! ^= 0xff
    const items = edited.map((item, index): [FacetId, Uint8Array] =>
      index === 4 ? [item[0], damaged] : item,
    )
    const reads = await b.prereadDocuments(items)
    expect(reads[4]).toBeUndefined() // not read ahead: left to the main thread
    expect(isLineRead(reads[5])).toBe(true)
    const outcomes = await b.applyRemoteDocuments(
      items,
      undefined,
      'a' as InstanceId,
      undefined,
      reads,
    )
    // Taken the general way, which takes nothing of it (Automerge drops the damaged
    // change; test/store/hostile-lines.test.ts holds that path to the same).
    expect(outcomes[4]).not.toMatchObject({ changed: true })
    expect(outcomes.filter((outcome) => isObjectSyncError(outcome))).toEqual([])
    expect(outcomes[5]).toMatchObject({ changed: true, continuedLine: true })
    // Nothing of it stored: the facet is as it was after the first edit.
    expect(await b.getFacetBytes(items[4]![0])).toEqual(once[4]![1])
    expect(await b.getFacetBytes(items[5]![0])).toEqual(edited[5]![1])
    await b.close()
  })
})

describe('a page of new objects made on the worker', () => {
  const page = (count: number, extra: Record<string, unknown> = {}) =>
    Array.from({ length: count }, (_, index) => ({
      input: {
        type: 'person' as const,
        fields: { ...anna, firstName: `Anna ${index}`, ...extra },
        custom: { tier: 'gold' },
      },
      options: {},
    }))

  it('makes the objects a store makes on its main thread, each change proven by its writer', async () => {
    const north = await createIdentity()
    const [onWorker, here] = await Promise.all(
      [true, false].map((readWorker) =>
        openStore(new MemoryStorage(), {
          instanceId: north.id,
          identityKey: north.privateKey,
          readWorker,
        }),
      ),
    )
    const made = await Promise.all(
      [onWorker!, here!].map((store) => store.createMany(page(WORKER_MIN_ITEMS + 5))),
    )
    for (const [index, store] of [onWorker!, here!].entries()) {
      for (const object of made[index]!) {
        if (isObjectSyncError(object)) throw object
        const stored = (await store.get(object.id))!
        expect(stored.fields).toEqual(object.fields)
        expect(stored.custom).toEqual({ tier: 'gold' })
        // The change after the genesis, of each facet, carries its writer's proof.
        for (const facet of ['core', 'custom:other']) {
          const bytes = (await store.getFacetBytes(`${object.id}/${facet}` as FacetId))!
          const [, change] = A.getAllChanges(A.load(bytes))
          expect(provesAuthor(`${object.id}/${facet}`, change!, north.id)).toBe(true)
        }
      }
    }
    // The same fields, by position, either way.
    expect(made[0]!.map((object) => (object as { fields: unknown }).fields)).toEqual(
      made[1]!.map((object) => (object as { fields: unknown }).fields),
    )
    await Promise.all([onWorker!.close(), here!.close()])
  })

  it('a worker that dies while making a page leaves it made on the main thread', async () => {
    const { id, privateKey } = await createIdentity()
    const reader = new StoreWorker(silentLogger)
    const facets = pageOfFacets(id, (index) => ({ firstName: `Anna ${index}`, lastName: 'Larsen' }))
    const madeHere = countingHere(facets)
    // The key as the store hands it to the worker (LocalSigning.writer).
    const writer = { actor: 'ab'.repeat(16), key: { type: privateKey.type, raw: privateKey.raw } }
    // A fresh worker, killed before it has even loaded: the page is made here, once.
    const making = reader.encode(facets, writer, madeHere.here)
    expect(reader.waiting).toBe(1)
    await reader.killWorkerForTest()
    const bytes = await making
    expect(bytes).toHaveLength(WORKER_MIN_ITEMS)
    expect(madeHere.calls).toBe(1)
    expect(reader.waiting).toBe(0)
    await reader.close()
  })

  it('a page that cannot be sent to the worker is made here, and the worker stopped', async () => {
    const reader = new StoreWorker(silentLogger)
    // A value structured clone refuses: postMessage throws.
    const facets = pageOfFacets('a' as InstanceId, () => ({
      firstName: (() => 'Anna') as unknown as string,
    }))
    const madeHere = countingHere(facets)
    const made = await reader.encode(
      facets,
      { actor: 'ab'.repeat(16), key: undefined },
      madeHere.here,
    )
    expect(made).toHaveLength(WORKER_MIN_ITEMS)
    expect(madeHere.calls).toBe(1)
    expect(reader.started).toBe(false)
    expect(reader.waiting).toBe(0)
    await reader.close()
  })

  it('a facet with a field named __proto__ is read the document way, on either thread, and gives no inherited field', async () => {
    const forged = encodeNewFacet(
      'person',
      {
        firstName: 'x',
        lastName: 'y',
        ...(JSON.parse('{"__proto__": {"email": "evil@example.org"}}') as object),
      },
      { by: 'm' as InstanceId, at: 1 },
      'abcd',
    )
    const items = (await batchOf(WORKER_MIN_ITEMS)).slice(0, WORKER_MIN_ITEMS)
    items[0] = ['01ARZ3NDEKTSV4RRFFQ69G5FAY/core' as FacetId, forged]
    const reader = new StoreWorker(silentLogger)
    const [onWorker, here] = [await reader.read(items), readInline(items)]
    expect(reader.started).toBe(true)
    expect(onWorker[0]).toBeUndefined()
    expect(here[0]).toBeUndefined()
    await reader.close()
    // The document path takes the fields as its own keys only: nothing comes in through a
    // prototype (the quick read's plain object would have given it an inherited email).
    const b = await openStore(memory.location()(), { instanceId: 'b' as InstanceId })
    await b.applyRemoteDocuments([items[0]])
    const stored = await b.get('01ARZ3NDEKTSV4RRFFQ69G5FAY' as ObjectId)
    expect(stored?.fields).toEqual({ firstName: 'x', lastName: 'y' })
    expect(stored?.fields.email).toBeUndefined()
    await b.close()
  })

  it('a page the worker cannot make is made the main thread way, which says why', async () => {
    // A lone surrogate, which the model refuses before anything is encoded: sent to the
    // worker as it is, the encoder throws there, and the page is left to the main thread.
    const reader = new StoreWorker(silentLogger)
    const facets = pageOfFacets('a' as InstanceId, (index) => ({
      firstName: index === 7 ? '\ud800' : 'Anna',
      lastName: 'Larsen',
    }))
    const writer = { actor: 'ab'.repeat(16), key: undefined }
    let madeHere = 0
    const here = () => {
      madeHere++
      return Promise.reject(new RangeError('refused here'))
    }
    await expect(reader.encode(facets, writer, here)).rejects.toThrow('refused here')
    expect(madeHere).toBe(1)
    // The worker is still there for the next page, which it makes.
    const good = facets.map((facet) => ({ ...facet, fields: { firstName: 'Anna' } }))
    expect(await reader.encode(good, writer, here)).toHaveLength(WORKER_MIN_ITEMS)
    expect(madeHere).toBe(1)
    expect(reader.started).toBe(true)
    await reader.close()
  })
})
