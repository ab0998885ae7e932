// Property: three instances in a line or a ring, with sessions dropping and coming back,
// edits on any of them at any time — once all are connected and quiet, they hold the
// same objects. Seeds are printed by fast-check on failure (FC_SEED reruns one).
import fc from 'fast-check'
import { describe, it } from 'vitest'
import type { ObjectId } from '../../src/model/index.ts'
import { eventually, pairNodes, syncNode, type SyncNode } from '../helpers/sync-nodes.ts'

const step = fc.oneof(
  fc.record({
    kind: fc.constant('edit' as const),
    node: fc.nat(2),
    object: fc.nat(3),
    field: fc.constantFrom('title', 'phone'),
    value: fc.constantFrom('x', 'y', 'z'),
  }),
  fc.record({ kind: fc.constant('create' as const), node: fc.nat(2) }),
  fc.record({ kind: fc.constant('drop' as const), link: fc.nat(2) }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 15 }) }),
)

describe('sync convergence (property)', () => {
  it('instances converge after any interleaving of edits and dropped sessions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(step, { maxLength: 25 }), async (ring, steps) => {
        const nodes = [await syncNode('a'), await syncNode('b'), await syncNode('c')] as const
        const links: [SyncNode, SyncNode][] = [
          [nodes[0], nodes[1]],
          [nodes[1], nodes[2]],
        ]
        if (ring) links.push([nodes[2], nodes[0]])
        for (const [from, to] of links) {
          await pairNodes(from, to)
          from.engine.connect(to.id)
        }
        const ids: ObjectId[] = [
          (
            await nodes[0].store.create({
              type: 'person',
              fields: { firstName: 'P', lastName: '0' },
            })
          ).id,
        ]
        try {
          for (const s of steps) {
            if (s.kind === 'edit') {
              const id = ids[s.object % ids.length]!
              const node = nodes[s.node]!
              const store = node.store
              if ((await store.get(id)) !== undefined) {
                await store.update(id, {
                  fields: { [s.field]: `${s.value}-${node.name}` },
                })
              }
            } else if (s.kind === 'create') {
              const created = await nodes[s.node]!.store.create({
                type: 'person',
                fields: { firstName: 'P', lastName: String(ids.length) },
              })
              ids.push(created.id)
            } else if (s.kind === 'drop') {
              // The session ends; the engine redials with backoff.
              const [from, to] = links[s.link % links.length]!
              from.engine.session(to.id)?.close()
            } else {
              await new Promise((resolve) => setTimeout(resolve, s.ms))
            }
          }
          // The check: all three hold the same objects within the deadline.
          await eventually(async () => {
            for (const id of ids) {
              const [x, y, z] = await Promise.all(nodes.map((node) => node.store.get(id)))
              if (
                x === undefined ||
                JSON.stringify(x) !== JSON.stringify(y) ||
                JSON.stringify(y) !== JSON.stringify(z)
              ) {
                return false
              }
            }
            return true
          }, 8000)
        } finally {
          await Promise.all(nodes.map((node) => node.stop()))
        }
      }),
      { numRuns: 15 },
    )
  }, 120_000)
})
