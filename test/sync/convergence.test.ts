// Convergence, as properties: whatever instances do while apart — edits, creates,
// deletes, partitions, frames dropped, duplicated or reordered, whole facets delivered
// late, twice or never — once they can talk again they hold identical objects.
// fast-check prints the seed of a failing schedule; FC_SEED=<seed> reruns it.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { MemoryStorage, ObjectStore } from '../../src/store/index.ts'
import {
  FAULTY_HELLO_TIMEOUT_MS,
  Faults,
  faultyTransport,
  type FrameFault,
} from '../helpers/faulty-transport.ts'
import {
  eventually,
  pairNodes,
  sameObjects,
  syncNode,
  topology,
  type SyncNode,
} from '../helpers/sync-nodes.ts'

const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }

const FIELDS = ['title', 'phone', 'birthday'] as const
const VALUES = ['x', 'y', 'z'] as const

/** Edits, creates and deletes, the same for both properties. */
const edit = fc.record({
  kind: fc.constant('edit' as const),
  node: fc.nat(4),
  object: fc.nat(5),
  field: fc.constantFrom(...FIELDS),
  value: fc.constantFrom(...VALUES),
})
const create = fc.record({ kind: fc.constant('create' as const), node: fc.nat(4) })
const remove = fc.record({
  kind: fc.constant('delete' as const),
  node: fc.nat(4),
  object: fc.nat(5),
})
type LocalStep = { kind: 'edit'; node: number; object: number; field: string; value: string }
type CreateStep = { kind: 'create'; node: number }
type DeleteStep = { kind: 'delete'; node: number; object: number }

/** Applies a local step at `store`; an edit of a deleted object is refused, as in use. */
async function applyLocal(
  store: ObjectStore,
  name: string,
  step: LocalStep | CreateStep | DeleteStep,
  ids: ObjectId[],
): Promise<void> {
  if (step.kind === 'create') {
    const created = await store.create({
      type: 'person',
      fields: { firstName: name, lastName: String(ids.length) },
    })
    ids.push(created.id)
    return
  }
  const id = ids[step.object % ids.length]!
  if ((await store.get(id)) === undefined) return // not arrived here yet
  try {
    if (step.kind === 'delete') await store.delete(id)
    else
      await store.update(id, { fields: { [step.field]: fieldValue(step.field, step.value, name) } })
  } catch (error) {
    if (!isObjectSyncError(error, 'OBJECT_DELETED')) throw error
  }
}

/** A valid value for `field`, different per value and per writer. */
function fieldValue(field: string, value: string, writer: string): string {
  if (field !== 'birthday') return `${value}-${writer}`
  return `19${VALUES.indexOf(value as (typeof VALUES)[number])}${writer.slice(-1)}-01-01`
}

describe('convergence of the stores (property, 1,000 schedules)', () => {
  // Instances exchange whole facets as the sync engine does, over links that lose,
  // repeat and reorder deliveries and are cut and healed; then every link carries
  // everything once more, and all stores must agree.
  const deliver = fc.record({
    kind: fc.constant('deliver' as const),
    link: fc.nat(9),
    forward: fc.boolean(),
    pick: fc.nat(20),
    fault: fc.constantFrom<'none' | 'drop' | 'duplicate'>('none', 'none', 'drop', 'duplicate'),
  })
  const send = fc.record({
    kind: fc.constant('send' as const),
    link: fc.nat(9),
    forward: fc.boolean(),
  })
  const cut = fc.record({ kind: fc.constant('cut' as const), link: fc.nat(9) })
  const schedule = fc.record({
    nodes: fc.integer({ min: 3, max: 5 }),
    extra: fc.array(fc.tuple(fc.nat(4), fc.nat(4)), { maxLength: 3 }),
    steps: fc.array(fc.oneof(edit, edit, create, remove, send, send, deliver, deliver, cut), {
      maxLength: 40,
    }),
  })

  it('every schedule of edits, deletes and faulty deliveries ends in identical stores', async () => {
    await fc.assert(
      fc.asyncProperty(schedule, async ({ nodes: count, extra, steps }) => {
        const stores = await Promise.all(
          Array.from({ length: count }, async (_, i) => {
            const store = new ObjectStore({
              storage: new MemoryStorage(),
              instanceId: `12D3KooWNode${i}` as InstanceId,
            })
            await store.open()
            return store
          }),
        )
        const links = topology(count, extra)
        // In flight per direction: batches of whole facets, as a session sends them.
        const inFlight = new Map<string, [FacetId, Uint8Array][][]>()
        const sentUpTo = new Map<string, number>()
        const down = new Set<number>()
        const ends = (link: number, forward: boolean) => {
          const [a, b] = links[link % links.length]!
          return forward ? [a, b] : [b, a]
        }
        const sendAll = async (from: number, to: number, after: number) => {
          const key = `${from}>${to}`
          const entries = await stores[from]!.readFeed(after, 10_000)
          const facets = [...new Set(entries.map((entry) => entry.facet))]
          const batch: [FacetId, Uint8Array][] = []
          for (const facet of facets) {
            const bytes = await stores[from]!.getFacetBytes(facet)
            if (bytes !== undefined) batch.push([facet, bytes])
          }
          sentUpTo.set(key, stores[from]!.lastSeq)
          inFlight.set(key, [...(inFlight.get(key) ?? []), batch])
        }
        const ids: ObjectId[] = [
          (await stores[0]!.create({ type: 'person', fields: { firstName: 'P', lastName: '0' } }))
            .id,
        ]
        try {
          for (const step of steps) {
            if (step.kind === 'send' || step.kind === 'deliver') {
              if (down.has(step.link % links.length)) continue
              const [from, to] = ends(step.link, step.forward) as [number, number]
              const key = `${from}>${to}`
              if (step.kind === 'send') {
                await sendAll(from, to, sentUpTo.get(key) ?? 0)
                continue
              }
              const queue = inFlight.get(key) ?? []
              if (queue.length === 0) continue
              const index = step.pick % queue.length // any order: reordering
              const batch = queue[index]!
              if (step.fault !== 'duplicate') queue.splice(index, 1)
              if (step.fault !== 'drop') {
                const outcomes = await stores[to]!.applyRemoteDocuments(batch)
                expect(outcomes.filter((outcome) => outcome instanceof Error)).toEqual([])
              }
            } else if (step.kind === 'cut') {
              const link = step.link % links.length
              if (down.has(link)) down.delete(link)
              else down.add(link)
            } else {
              await applyLocal(stores[step.node % count]!, `n${step.node % count}`, step, ids)
            }
          }
          // Heal: every link carries everything, in both directions, until nothing moves
          // (as many rounds as the longest path).
          for (let round = 0; round < count; round++) {
            for (const [a, b] of links) {
              for (const [from, to] of [
                [a, b],
                [b, a],
              ] as const) {
                await sendAll(from, to, 0)
                for (const batch of inFlight.get(`${from}>${to}`)!.splice(0)) {
                  await stores[to]!.applyRemoteDocuments(batch)
                }
              }
            }
          }
          expect(await sameObjects(stores, ids)).toBe(true)
        } finally {
          await Promise.all(stores.map((store) => store.close()))
        }
      }),
      { numRuns: 1000, ...seed },
    )
  }, 120_000)
})

describe('convergence of whole instances (property, real sessions and sealed frames)', () => {
  // Three to five instances with sync engines over a transport that drops, duplicates and
  // reorders frames under the sealed channel and cuts links; sessions break, redial and
  // resume from their cursors. Once the faults stop, everyone holds the same objects.
  const frameFault = fc.record({
    kind: fc.constant('fault' as const),
    link: fc.nat(9),
    forward: fc.boolean(),
    fault: fc.constantFrom<FrameFault>('drop', 'duplicate', 'reorder'),
  })
  const partition = fc.record({ kind: fc.constant('partition' as const), link: fc.nat(9) })
  const wait = fc.record({
    kind: fc.constant('wait' as const),
    ms: fc.integer({ min: 0, max: 10 }),
  })
  const schedule = fc.record({
    nodes: fc.integer({ min: 3, max: 5 }),
    extra: fc.array(fc.tuple(fc.nat(4), fc.nat(4)), { maxLength: 3 }),
    steps: fc.array(fc.oneof(edit, edit, create, remove, frameFault, partition, wait, wait), {
      maxLength: 25,
    }),
  })

  type Schedule = typeof schedule extends fc.Arbitrary<infer T> ? T : never
  const LOST_HELLOS = [
    { kind: 'partition', link: 0 },
    { kind: 'fault', link: 0, forward: true, fault: 'drop' },
    { kind: 'partition', link: 0 },
    { kind: 'wait', ms: 8 },
    { kind: 'fault', link: 0, forward: false, fault: 'drop' },
    { kind: 'wait', ms: 7 },
  ] as const

  it('instances converge after any interleaving of edits, deletes and frame faults', async () => {
    const applied = { drop: 0, duplicate: 0, reorder: 0 }
    await fc.assert(
      fc.asyncProperty(schedule, async ({ nodes: count, extra, steps }) => {
        const faults = new Faults()
        const nodes: SyncNode[] = []
        for (let i = 0; i < count; i++) {
          nodes.push(
            await syncNode(`n${i}`, undefined, {
              heartbeatMs: 25,
              helloTimeoutMs: FAULTY_HELLO_TIMEOUT_MS,
              wrapTransport: (transport) => faultyTransport(transport, faults),
            }),
          )
        }
        const links = topology(count, extra).map(([a, b]) => [nodes[a]!, nodes[b]!] as const)
        for (const [from, to] of links) {
          await pairNodes(from, to)
          from.engine.connect(to.id)
        }
        const ids: ObjectId[] = [
          (
            await nodes[0]!.store.create({
              type: 'person',
              fields: { firstName: 'P', lastName: '0' },
            })
          ).id,
        ]
        try {
          for (const step of steps) {
            if (step.kind === 'fault') {
              const [a, b] = links[step.link % links.length]!
              const [from, to] = step.forward ? [a, b] : [b, a]
              faults.inject(from.id, to.id, step.fault)
            } else if (step.kind === 'partition') {
              const [a, b] = links[step.link % links.length]!
              if (faults.isCut(a.id, b.id)) faults.heal(a.id, b.id)
              else await faults.partition(a.id, b.id)
            } else if (step.kind === 'wait') {
              await new Promise((resolve) => setTimeout(resolve, step.ms))
            } else {
              const node = nodes[step.node % count]!
              await applyLocal(node.store, node.name, step, ids)
            }
          }
          faults.healAll()
          await eventually(
            () =>
              sameObjects(
                nodes.map((node) => node.store),
                ids,
              ),
            10_000,
          )
        } finally {
          for (const fault of ['drop', 'duplicate', 'reorder'] as const) {
            applied[fault] += faults.applied[fault]
          }
          await Promise.all(nodes.map((node) => node.stop()))
        }
      }),
      {
        numRuns: 200,
        ...seed,
        // Regression (CI, 2026-12-07): both hellos of a redial dropped, and each side
        // waited 10 s for the other's, past the time to converge.
        examples: [[{ nodes: 3, extra: [], steps: [...LOST_HELLOS] } satisfies Schedule]],
      },
    )
    // The schedules did reach the wire: frames were really dropped, repeated and reordered.
    expect(Math.min(applied.drop, applied.duplicate, applied.reorder)).toBeGreaterThan(0)
  }, 180_000)
})
