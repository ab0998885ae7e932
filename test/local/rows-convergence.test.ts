// Convergence down to the rows, as a property: instances with their own SQLite local
// systems, where "another program" inserts, updates and deletes rows while frames are
// dropped, repeated and reordered and links are cut. Once the faults stop, every local
// system holds the same rows, and each holds what its own store says.
// fast-check prints the seed of a failing schedule; FC_SEED=<seed> reruns it, and
// ROWS_RUNS=<n> runs more schedules (npm test runs a few).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  FAULTY_HELLO_TIMEOUT_MS,
  Faults,
  faultyTransport,
  type FrameFault,
} from '../helpers/faulty-transport.ts'
import { localNode, type LocalNode } from '../helpers/local-nodes.ts'
import { eventually, pairNodes, topology } from '../helpers/sync-nodes.ts'

const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }
const RUNS = Number(process.env.ROWS_RUNS ?? 30)

const insert = fc.record({ kind: fc.constant('insert' as const), node: fc.nat(3) })
const update = fc.record({
  kind: fc.constant('update' as const),
  node: fc.nat(3),
  row: fc.nat(6),
  column: fc.constantFrom('title', 'phone'),
  value: fc.constantFrom('x', 'y', 'z'),
})
const remove = fc.record({ kind: fc.constant('delete' as const), node: fc.nat(3), row: fc.nat(6) })
const frameFault = fc.record({
  kind: fc.constant('fault' as const),
  link: fc.nat(5),
  forward: fc.boolean(),
  fault: fc.constantFrom<FrameFault>('drop', 'duplicate', 'reorder'),
})
const partition = fc.record({ kind: fc.constant('partition' as const), link: fc.nat(5) })
const wait = fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 60 }) })
const schedule = fc.record({
  nodes: fc.integer({ min: 2, max: 3 }),
  extra: fc.array(fc.tuple(fc.nat(2), fc.nat(2)), { maxLength: 1 }),
  steps: fc.array(
    fc.oneof(insert, insert, update, update, remove, frameFault, partition, wait, wait),
    { minLength: 6, maxLength: 20 },
  ),
})

const COLUMNS = 'first_name, last_name, email, phone, title'

/** A node's live rows as a person sees them (ids differ per instance; archived left out). */
function rowsOf(node: LocalNode): string {
  return JSON.stringify(
    node.sql.prepare(`SELECT ${COLUMNS} FROM persons WHERE archived = 0 ORDER BY email`).all(),
  )
}

/** What the node's store says those rows should be. */
async function storeRowsOf(node: LocalNode): Promise<string> {
  const { items } = await node.node.store.list('person', { limit: 1000 })
  const rows = items
    .map(({ fields }) => ({
      first_name: fields.firstName ?? null,
      last_name: fields.lastName ?? null,
      email: fields.email ?? null,
      phone: fields.phone ?? null,
      title: fields.title ?? null,
    }))
    .sort((a, b) => (JSON.stringify(a.email) < JSON.stringify(b.email) ? -1 : 1))
  return JSON.stringify(rows)
}

function liveRowIds(node: LocalNode): string[] {
  const rows = node.sql
    .prepare('SELECT id FROM persons WHERE archived = 0 ORDER BY email')
    .all() as { id: string }[]
  return rows.map((row) => row.id)
}

describe('convergence of local systems (property, real SQLite files)', () => {
  it(`rows written by other programs end the same everywhere, whatever the faults (${RUNS} schedules)`, async () => {
    const applied = { drop: 0, duplicate: 0, reorder: 0 }
    let inserted = 0
    await fc.assert(
      fc.asyncProperty(schedule, async ({ nodes: count, extra, steps }) => {
        const faults = new Faults()
        const nodes: LocalNode[] = []
        for (let i = 0; i < count; i++) {
          nodes.push(
            await localNode(`r${i}`, {
              pollMs: 20,
              node: {
                heartbeatMs: 25,
                helloTimeoutMs: FAULTY_HELLO_TIMEOUT_MS,
                wrapTransport: (transport) => faultyTransport(transport, faults),
              },
            }),
          )
        }
        const links = topology(count, extra).map(([a, b]) => [nodes[a]!, nodes[b]!] as const)
        for (const [from, to] of links) {
          await pairNodes(from.node, to.node)
          from.node.engine.connect(to.node.id)
        }
        try {
          for (const step of steps) {
            if (step.kind === 'fault') {
              const [a, b] = links[step.link % links.length]!
              const [from, to] = step.forward ? [a, b] : [b, a]
              faults.inject(from.node.id, to.node.id, step.fault)
            } else if (step.kind === 'partition') {
              const [a, b] = links[step.link % links.length]!
              if (faults.isCut(a.node.id, b.node.id)) faults.heal(a.node.id, b.node.id)
              else await faults.partition(a.node.id, b.node.id)
            } else if (step.kind === 'wait') {
              await new Promise((resolve) => setTimeout(resolve, step.ms))
            } else if (step.kind === 'insert') {
              const node = nodes[step.node % count]!
              const n = inserted++
              node.sql
                .prepare(
                  'INSERT INTO persons(id, first_name, last_name, email) VALUES (?, ?, ?, ?)',
                )
                .run(`row-${n}`, `P${n}`, node.node.name, `p${n}@example.org`)
            } else {
              const node = nodes[step.node % count]!
              const ids = liveRowIds(node)
              if (ids.length === 0) continue
              const id = ids[step.row % ids.length]!
              if (step.kind === 'delete') {
                node.sql.prepare('DELETE FROM persons WHERE id = ?').run(id)
              } else {
                node.sql
                  .prepare(`UPDATE persons SET ${step.column} = ? WHERE id = ?`)
                  .run(`${step.value}-${node.node.name}`, id)
              }
            }
          }
          faults.healAll()
          const settled = async () => {
            const rows = nodes.map(rowsOf)
            if (rows.some((row) => row !== rows[0])) return false
            for (const node of nodes) if (rowsOf(node) !== (await storeRowsOf(node))) return false
            return true
          }
          await eventually(settled, 20_000).catch(() => undefined)
          const first = rowsOf(nodes[0]!)
          for (const node of nodes) {
            expect(rowsOf(node), `${node.node.name}'s rows`).toBe(first)
            expect(rowsOf(node), `${node.node.name}'s rows against its store`).toBe(
              await storeRowsOf(node),
            )
          }
        } finally {
          for (const fault of ['drop', 'duplicate', 'reorder'] as const) {
            applied[fault] += faults.applied[fault]
          }
          await Promise.all(nodes.map((node) => node.close()))
        }
      }),
      { numRuns: RUNS, ...seed },
    )
    expect(inserted).toBeGreaterThan(0)
    // The schedules did reach the wire: frames were really dropped, repeated or reordered.
    expect(applied.drop + applied.duplicate + applied.reorder).toBeGreaterThan(0)
  }, 300_000)
})
