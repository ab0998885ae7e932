// Identity across instances, as a property over whole instances with SQLite local systems:
// 2–4 instances each hold some of the same people (names written differently: case,
// spacing, Unicode form), the organizations they work for and their donations, made
// before pairing and while connected; paired in a line, a star or a ring, in any order,
// with sessions dropped on the way. Once quiet, every local system holds one row per real
// person, organization and donation, every person's organization_id and every donation's
// person_id names that side's row of the right record, and every store lists each once.
// fast-check prints the seed and path of a failing schedule; FC_SEED=<seed> reruns from it
// and FC_PATH=<path> replays that one schedule. IDENTITY_RUNS=<n> sets how many schedules
// run (npm test: 200, from a fixed seed so that npm test is not flaky; FC_SEED=random
// draws one).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalizeText } from '../../src/local/matching.ts'
import { localNode, type LocalNode } from '../helpers/local-nodes.ts'
import { eventually, network, pairNodes } from '../helpers/sync-nodes.ts'

const FIXED_SEED = 20261206
const seed =
  process.env.FC_SEED === 'random'
    ? {}
    : { seed: process.env.FC_SEED === undefined ? FIXED_SEED : Number(process.env.FC_SEED) }
/** FC_PATH=<path> (with FC_SEED) replays the one schedule fast-check printed. */
const replay = process.env.FC_PATH === undefined ? {} : { path: process.env.FC_PATH }
const runs = Number(process.env.IDENTITY_RUNS ?? 200)

const PEOPLE = [
  ['Åse', 'Berg'],
  ['Ole', 'Dahl'],
  ['Ida', 'Moé'],
] as const
const ORGANIZATIONS = ['Nordlys Hjelp', 'Fjord Ære'] as const
/** The organization each person works for. */
const WORKS_FOR = [0, 1, 0] as const
/** The same name as another program might have written it. */
const VARIANTS = [
  (name: string) => name,
  (name: string) => name.toUpperCase(),
  (name: string) => ` ${name.toLowerCase()}  `,
  (name: string) => name.normalize('NFD'),
] as const
const DATES = ['2026-01-05', '2026-02-01'] as const

const holding = fc.record({
  person: fc.nat(PEOPLE.length - 1),
  variant: fc.nat(VARIANTS.length - 1),
  /** The person's organization is held too, and the person's row names it. */
  organization: fc.boolean(),
  /** Which donations of this person the instance holds (bit per date). */
  donations: fc.nat(3),
  /** Made while connected, not before pairing. */
  live: fc.boolean(),
})
const schedule = fc.record({
  nodes: fc.integer({ min: 2, max: 4 }),
  topology: fc.constantFrom('line', 'star', 'ring'),
  /** Sort keys for the order in which the links are paired. */
  pairingOrder: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
  /** Links whose session is dropped: right after pairing, or after the live writes. */
  drops: fc.array(fc.record({ link: fc.nat(3), late: fc.boolean() }), { maxLength: 2 }),
  holdings: fc.array(fc.array(holding, { maxLength: 3 }), { minLength: 4, maxLength: 4 }),
})
type Holding = typeof holding extends fc.Arbitrary<infer T> ? T : never

/** The links between nodes 0..count-1. */
function links(count: number, topology: 'line' | 'star' | 'ring'): [number, number][] {
  const result: [number, number][] = []
  for (let i = 1; i < count; i++) result.push([topology === 'star' ? 0 : i - 1, i])
  if (topology === 'ring' && count > 2) result.push([count - 1, 0])
  return result
}

/** What every side must end with, as names (normalized) rather than keys. */
class World {
  readonly people = new Set<string>()
  readonly organizations = new Set<string>()
  /** Person → the organization some instance says the person works for. */
  readonly worksFor = new Map<string, string>()
  readonly donations = new Set<string>()

  expected() {
    return {
      people: [...this.people].map((name) => `${name}@${this.worksFor.get(name) ?? '-'}`).sort(),
      organizations: [...this.organizations].sort(),
      donations: [...this.donations].sort(),
    }
  }
}

const personName = (first: string, last: string) => `${normalizeText(first)} ${normalizeText(last)}`

/** Writes the holding into the node's SQLite file as its users would, and notes it. */
function write(node: LocalNode, prefix: string, held: Holding, world: World): void {
  const sql = node.sql
  const [first, last] = PEOPLE[held.person]!
  const variant = VARIANTS[held.variant]!
  const name = personName(first, last)
  world.people.add(name)
  const key = `${prefix}-p${held.person}`
  let organizationKey: string | null = null
  if (held.organization) {
    const organization = ORGANIZATIONS[WORKS_FOR[held.person]!]
    organizationKey = `${prefix}-o${WORKS_FOR[held.person]}`
    world.organizations.add(normalizeText(organization))
    if (
      sql.prepare('SELECT 1 FROM organizations WHERE id = ?').get(organizationKey) === undefined
    ) {
      sql
        .prepare('INSERT INTO organizations(id, name) VALUES (?, ?)')
        .run(organizationKey, variant(organization))
    }
  }
  if (sql.prepare('SELECT 1 FROM persons WHERE id = ?').get(key) === undefined) {
    sql
      .prepare(
        'INSERT INTO persons(id, first_name, last_name, organization_id) VALUES (?, ?, ?, ?)',
      )
      .run(key, variant(first), variant(last), organizationKey)
    if (organizationKey !== null) {
      world.worksFor.set(name, normalizeText(ORGANIZATIONS[WORKS_FOR[held.person]!]))
    }
  }
  DATES.forEach((date, i) => {
    const donation = `${prefix}-d${held.person}-${i}`
    if ((held.donations & (1 << i)) === 0) return
    world.donations.add(`${name}|${date}`)
    if (sql.prepare('SELECT 1 FROM transactions WHERE id = ?').get(donation) !== undefined) return
    sql
      .prepare(
        "INSERT INTO transactions(id, type, person_id, date, amount, donor_id) VALUES (?, 'donation', ?, ?, '10.00', ?)",
      )
      .run(donation, key, date, `${prefix}-donor`)
  })
}

/** The node's local system as names: each person with its organization, each donation. */
function state(node: LocalNode) {
  const names = (table: string) =>
    node.sql.prepare(`SELECT id, name FROM ${table}`).all() as { id: string; name: string }[]
  const organizations = new Map(names('organizations').map((row) => [row.id, row.name]))
  const persons = node.sql
    .prepare('SELECT id, first_name, last_name, organization_id FROM persons')
    .all() as { id: string; first_name: string; last_name: string; organization_id: string }[]
  const byKey = new Map(persons.map((row) => [row.id, personName(row.first_name, row.last_name)]))
  const donations = node.sql.prepare('SELECT person_id, date FROM transactions').all() as {
    person_id: string | null
    date: string
  }[]
  const organizationOf = (key: string | null) =>
    key === null ? '-' : normalizeText(organizations.get(key) ?? 'DANGLING')
  return {
    people: persons
      .map((row) => `${byKey.get(row.id)}@${organizationOf(row.organization_id)}`)
      .sort(),
    organizations: [...organizations.values()].map((name) => normalizeText(name)).sort(),
    donations: donations
      .map((row) => `${byKey.get(row.person_id ?? '') ?? 'NONE'}|${row.date}`)
      .sort(),
  }
}

/** Every store lists each real record once (merged objects are not listed). */
async function listed(node: LocalNode) {
  const count = async (type: 'person' | 'organization' | 'transaction') =>
    (await node.node.store.list(type, { limit: 1000 })).items.length
  return {
    people: await count('person'),
    organizations: await count('organization'),
    donations: await count('transaction'),
  }
}

describe('identity across instances, as a property', () => {
  it(`one row per real record and right references on every side, over ${runs} schedules`, async () => {
    await fc.assert(
      fc.asyncProperty(
        schedule,
        async ({ nodes: count, topology, pairingOrder, drops, holdings }) => {
          const nodes: LocalNode[] = []
          try {
            for (let i = 0; i < count; i++) nodes.push(await localNode(`n${i}`))
            const world = new World()
            const held = holdings.slice(0, count)
            const writeAll = (live: boolean) =>
              held.forEach((rows, i) =>
                rows
                  .filter((row) => row.live === live)
                  .forEach((row) => write(nodes[i]!, `n${i}`, row, world)),
              )
            writeAll(false)
            await Promise.all(nodes.map((node) => node.local.settled()))
            const order = links(count, topology)
              .map((link, i) => ({ link, key: pairingOrder[i]! }))
              .sort((x, y) => x.key - y.key)
              .map(({ link }) => link)
            for (const [a, b] of order) {
              await pairNodes(nodes[a]!.node, nodes[b]!.node)
              nodes[b]!.node.engine.connect(nodes[a]!.node.id)
            }
            // A dropped session is dialled again by the engine (with backoff).
            const drop = (late: boolean) =>
              drops
                .filter((d) => d.late === late)
                .forEach((d) => {
                  const [a, b] = order[d.link % order.length]!
                  network.hangUp(nodes[a]!.node.id, nodes[b]!.node.id)
                })
            drop(false)
            writeAll(true)
            drop(true)
            const expected = world.expected()
            const expectedListed = {
              people: expected.people.length,
              organizations: expected.organizations.length,
              donations: expected.donations.length,
            }
            const done = async () => {
              await Promise.all(nodes.map((node) => node.local.settled()))
              for (const node of nodes) {
                if (JSON.stringify(state(node)) !== JSON.stringify(expected)) return false
                if (JSON.stringify(await listed(node)) !== JSON.stringify(expectedListed)) {
                  return false
                }
              }
              return true
            }
            await eventually(done, 10_000).catch(() => {})
            for (const [i, node] of nodes.entries()) {
              expect(state(node), `n${i}`).toEqual(expected)
              expect(await listed(node), `n${i}`).toEqual(expectedListed)
            }
          } finally {
            for (const node of nodes) await node.close()
          }
        },
      ),
      { numRuns: runs, ...seed, ...replay },
    )
  }, 900_000)
})
