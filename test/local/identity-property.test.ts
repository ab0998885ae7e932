// Identity across instances, as a property over whole instances with SQLite local systems:
// 2–3 instances each hold some of the same people (names written differently) and their
// donations, made before pairing and while connected; paired in a line or a star, in any
// order. Once quiet, every local system holds one row per real person and per donation,
// every donation's person_id names that side's row of the right person, and all stores
// agree. fast-check prints the seed of a failing schedule; FC_SEED=<seed> reruns it, and
// IDENTITY_RUNS=<n> sets how many schedules run (npm test: 200, from a fixed seed so that
// npm test is not flaky; FC_SEED=random draws one). Known open case: FC_SEED=-10953947
// with IDENTITY_RUNS=1000 fails at schedule 211 (a donation row left without its person
// after three instances in a line each hold the same person) — issue 16 is not done.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalizeText } from '../../src/local/matching.ts'
import { localNode, type LocalNode } from '../helpers/local-nodes.ts'
import { eventually, pairNodes } from '../helpers/sync-nodes.ts'

const FIXED_SEED = 20261206
const seed =
  process.env.FC_SEED === 'random'
    ? {}
    : { seed: process.env.FC_SEED === undefined ? FIXED_SEED : Number(process.env.FC_SEED) }
const runs = Number(process.env.IDENTITY_RUNS ?? 200)

const PEOPLE = [
  ['Anna', 'Berg'],
  ['Ole', 'Dahl'],
  ['Ida', 'Moe'],
] as const
/** The same name as another program might have written it. */
const VARIANTS = [
  (name: string) => name,
  (name: string) => name.toUpperCase(),
  (name: string) => ` ${name.toLowerCase()}  `,
] as const
const DATES = ['2026-01-05', '2026-02-01'] as const

const holding = fc.record({
  person: fc.nat(PEOPLE.length - 1),
  variant: fc.nat(VARIANTS.length - 1),
  /** Which donations of this person the instance holds (bit per date). */
  donations: fc.nat(3),
  /** Made while connected, not before pairing. */
  live: fc.boolean(),
})
const schedule = fc.record({
  nodes: fc.integer({ min: 2, max: 3 }),
  star: fc.boolean(),
  holdings: fc.array(fc.array(holding, { maxLength: 3 }), { minLength: 3, maxLength: 3 }),
})

interface PersonRow {
  id: string
  first_name: string
  last_name: string
}
interface DonationRow {
  id: string
  person_id: string | null
  date: string
}

type HeldRow = { person: number; variant: number; donations: number; live: boolean }

function write(node: LocalNode, prefix: string, held: HeldRow): void {
  const [first, last] = PEOPLE[held.person]!
  const variant = VARIANTS[held.variant]!
  const key = `${prefix}-p${held.person}`
  const exists = node.sql.prepare('SELECT 1 FROM persons WHERE id = ?').get(key)
  if (exists === undefined) {
    node.sql
      .prepare('INSERT INTO persons(id, first_name, last_name) VALUES (?, ?, ?)')
      .run(key, variant(first), variant(last))
  }
  DATES.forEach((date, i) => {
    const donation = `${prefix}-d${held.person}-${i}`
    if ((held.donations & (1 << i)) === 0) return
    if (node.sql.prepare('SELECT 1 FROM transactions WHERE id = ?').get(donation) !== undefined)
      return
    node.sql
      .prepare(
        "INSERT INTO transactions(id, type, person_id, date, amount, donor_id) VALUES (?, 'donation', ?, ?, '10.00', ?)",
      )
      .run(donation, key, date, `${prefix}-donor`)
  })
}

const personName = (row: PersonRow) =>
  `${normalizeText(row.first_name)} ${normalizeText(row.last_name)}`

describe('identity across instances, as a property', () => {
  it(`one row per real person and donation on every side, over ${runs} schedules`, async () => {
    await fc.assert(
      fc.asyncProperty(schedule, async ({ nodes: count, star, holdings }) => {
        const nodes: LocalNode[] = []
        try {
          for (let i = 0; i < count; i++) nodes.push(await localNode(`n${i}`))
          const held = holdings.slice(0, count)
          held.forEach((rows, i) =>
            rows.filter((row) => !row.live).forEach((row) => write(nodes[i]!, `n${i}`, row)),
          )
          await Promise.all(nodes.map((node) => node.local.settled()))
          // Line: 0–1–2; star: 0 in the middle.
          for (let i = 1; i < count; i++) {
            const hub = star ? nodes[0]! : nodes[i - 1]!
            await pairNodes(hub.node, nodes[i]!.node)
            nodes[i]!.node.engine.connect(hub.node.id)
          }
          held.forEach((rows, i) =>
            rows.filter((row) => row.live).forEach((row) => write(nodes[i]!, `n${i}`, row)),
          )
          // What exists anywhere: each real person, and each of their donations by date.
          const people = new Set<string>()
          const donations = new Set<string>()
          for (const rows of held) {
            for (const row of rows) {
              const name = `${normalizeText(PEOPLE[row.person]![0])} ${normalizeText(PEOPLE[row.person]![1])}`
              people.add(name)
              DATES.forEach((date, i) => {
                if ((row.donations & (1 << i)) !== 0) donations.add(`${name}|${date}`)
              })
            }
          }
          const state = (node: LocalNode) => {
            const persons = node.sql
              .prepare('SELECT id, first_name, last_name FROM persons')
              .all() as PersonRow[]
            const byKey = new Map(persons.map((row) => [row.id, personName(row)]))
            const rows = node.sql
              .prepare('SELECT id, person_id, date FROM transactions')
              .all() as DonationRow[]
            return {
              people: persons.map(personName).sort(),
              donations: rows
                .map((row) => `${byKey.get(row.person_id ?? '') ?? 'NONE'}|${row.date}`)
                .sort(),
            }
          }
          const expected = { people: [...people].sort(), donations: [...donations].sort() }
          await eventually(async () => {
            await Promise.all(nodes.map((node) => node.local.settled()))
            return nodes.every((node) => JSON.stringify(state(node)) === JSON.stringify(expected))
          }, 8000).catch(() => {})
          for (const node of nodes) expect(state(node)).toEqual(expected)
        } finally {
          for (const node of nodes) await node.close()
        }
      }),
      { numRuns: runs, ...seed },
    )
  }, 600_000)
})
