// Reading a peer's batches on a worker thread (store/object-store/quick-reader.ts): the
// same reads as on the main thread, refusals included; a worker that dies or a store that
// closes while batches wait on it loses none and hangs nothing.
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { silentLogger } from '../../src/log.ts'
import { encodeNewFacet } from '../../src/store/facet-doc.ts'
import {
  QuickReader,
  WORKER_MIN_ITEMS,
  readInline,
} from '../../src/store/object-store/quick-reader.ts'
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

/** What a read says, comparable across threads. */
function summary(reads: readonly unknown[]): unknown[] {
  return reads.map((read) =>
    isObjectSyncError(read)
      ? { refused: read.message, code: read.code }
      : (read ?? 'document path'),
  )
}

describe('QuickReader', () => {
  it('reads a large batch on the worker as the main thread does, refusals included', async () => {
    const items = await batchOf(WORKER_MIN_ITEMS + 20)
    const reader = new QuickReader(silentLogger)
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
    const reader = new QuickReader(silentLogger)
    expect(summary(await reader.read(items))).toEqual(summary(readInline(items)))
    expect(reader.started).toBe(false)
    await reader.close()
  })

  it('a worker that dies reads what it held on the main thread, and every batch after', async () => {
    const items = await batchOf(WORKER_MIN_ITEMS)
    const reader = new QuickReader(silentLogger)
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
    const reader = new QuickReader(silentLogger)
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
    expect(refused.map(([index]) => index)).toEqual([3, 5, 7, 11])
    expect(refused[1]![1]).toMatch(/could not be parsed/)
    expect(refused[2]![1]).toMatch(/not a facet id/)
    expect(refused[3]![1]).toMatch(/refused: .*birthday/)
    expect(await b.count('person')).toBe(WORKER_MIN_ITEMS + 10)
    const first = items[0]![0].split('/')[0] as ObjectId
    expect((await b.get(first))?.fields.firstName).toBe('Anna 0')
    // Nothing of the refused ones is stored.
    expect(await b.get('01ARZ3NDEKTSV4RRFFQ69G5FAW' as ObjectId)).toBeUndefined()
    await b.close()
  })
})
