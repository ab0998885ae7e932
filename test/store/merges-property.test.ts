// Merges converge, as a property: whatever merges and unmerges instances make apart, and
// in whatever order they hear of each other's, once everything is delivered they agree on
// which objects are one, on the survivor of each group, and on how every object reads.
// fast-check prints the seed of a failing schedule; FC_SEED=<seed> reruns it, and
// MERGE_RUNS=<n> runs more schedules than the 200 of `npm test`.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { InstanceId, ObjectId } from '../../src/model/index.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { openStore, ship } from '../helpers/stores.ts'

const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }
const runs = Number(process.env.MERGE_RUNS ?? 200)
const STORES = 3
const OBJECTS = 4

const step = fc.oneof(
  fc.record({
    kind: fc.constant('merge' as const),
    node: fc.nat(STORES - 1),
    a: fc.nat(OBJECTS - 1),
    b: fc.nat(OBJECTS - 1),
  }),
  fc.record({
    kind: fc.constant('unmerge' as const),
    node: fc.nat(STORES - 1),
    object: fc.nat(OBJECTS - 1),
  }),
  fc.record({
    kind: fc.constant('ship' as const),
    from: fc.nat(STORES - 1),
    to: fc.nat(STORES - 1),
  }),
)

async function view(store: ObjectStore, ids: readonly ObjectId[]) {
  return Promise.all(
    ids.map(async (id) => {
      const object = (await store.get(id))!
      return { id, survivor: store.survivorOf(id), fields: object.fields, merged: object.merged }
    }),
  )
}

describe('merges as a property', () => {
  it(`converge over ${runs} schedules of merges, unmerges and deliveries`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 14 }), async (steps) => {
        const stores = await Promise.all(
          Array.from({ length: STORES }, (_, i) =>
            openStore(new MemoryStorage(), { instanceId: `i${i}` as InstanceId }),
          ),
        )
        try {
          const ids: ObjectId[] = []
          for (let i = 0; i < OBJECTS; i++) {
            const fields = { firstName: 'Same', lastName: 'Person', title: `t${i}` }
            ids.push((await stores[0]!.create({ type: 'person', fields })).id)
          }
          for (const other of stores.slice(1)) await ship(stores[0]!, other)
          for (const s of steps) {
            if (s.kind === 'merge') await stores[s.node]!.merge(ids[s.a]!, ids[s.b]!)
            else if (s.kind === 'ship') await ship(stores[s.from]!, stores[s.to]!)
            else {
              await stores[s.node]!.unmerge(ids[s.object]!).catch((error: unknown) => {
                if (!isObjectSyncError(error, 'INVALID_MERGE')) throw error
              })
            }
          }
          // Everything delivered everywhere (twice round: a store passes on what it got).
          for (let round = 0; round < 2; round++) {
            for (const from of stores)
              for (const to of stores) if (from !== to) await ship(from, to)
          }
          const first = await view(stores[0]!, ids)
          for (const other of stores.slice(1)) expect(await view(other, ids)).toEqual(first)
          // A survivor is the smallest id of its group, and stands for itself.
          for (const { id, survivor } of first) {
            expect(survivor <= id).toBe(true)
            expect(stores[0]!.survivorOf(survivor)).toBe(survivor)
          }
        } finally {
          await Promise.all(stores.map((store) => store.close()))
        }
      }),
      { numRuns: runs, ...seed },
    )
  }, 120_000)
})
