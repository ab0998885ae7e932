// Actions per peer and type, group rules read from the local system, and housekeeping:
// two instances, each with its own SQLite file written by plain SQL from another
// connection.
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import {
  actionsFromConfig,
  housekeepingFromConfig,
  type LocalPeerSettings,
} from '../../src/local/index.ts'
import type { InstanceId, ObjectId } from '../../src/model/index.ts'
import { localNode, persons, type LocalNode } from '../helpers/local-nodes.ts'
import { eventually, pairNodes } from '../helpers/sync-nodes.ts'

type Row = Record<string, unknown>

const rows = (node: LocalNode, table = 'persons'): Row[] =>
  node.sql.prepare(`SELECT * FROM ${table} ORDER BY id`).all() as Row[]

const insertPerson = (node: LocalNode, id: string, first: string, last: string) =>
  node.sql
    .prepare('INSERT INTO persons(id, first_name, last_name) VALUES (?, ?, ?)')
    .run(id, first, last)

/** A and B paired and connected; `settings(a)` is what A's changes may do at B. */
async function pair(
  a: LocalNode,
  b: LocalNode,
  settings: (a: InstanceId) => LocalPeerSettings,
): Promise<void> {
  await b.configure(new Map([[a.node.id, settings(a.node.id)]]))
  await pairNodes(a.node, b.node)
  b.node.engine.connect(a.node.id)
}

async function objectOf(node: LocalNode, first: string): Promise<ObjectId> {
  let id: ObjectId | undefined
  await eventually(async () => {
    id = (await persons(node.node)).find((p) => p.fields.firstName === first)?.id
    return id !== undefined
  }, 3000)
  return id!
}

describe('actions in peers.json', () => {
  it('fill in the defaults (link, update, archive) and refuse a wrong one, naming where', () => {
    const actions = actionsFromConfig(
      { person: { delete: 'delete' } },
      'peers.json',
      'peers[1].actions',
    )
    expect(actions.person).toEqual({ create: 'link', maintain: 'update', delete: 'delete' })
    expect(actions.transaction).toEqual({ create: 'link', maintain: 'update', delete: 'archive' })
    const refused = (value: unknown) => {
      try {
        actionsFromConfig(value, 'peers.json', 'peers[1].actions')
      } catch (error) {
        expect(isObjectSyncError(error, 'INVALID_CONFIG')).toBe(true)
        return (error as Error).message
      }
      throw new Error('accepted')
    }
    expect(refused({ person: { delete: 'purge' } })).toBe(
      'peers.json: peers[1].actions.person.delete: expected one of "archive", "delete", "leave-group"',
    )
    expect(refused({ people: {} })).toBe(
      'peers.json: peers[1].actions: unknown type "people" (expected person, organization, transaction, file)',
    )
    expect(refused({ person: { creates: 'link' } })).toBe(
      'peers.json: peers[1].actions.person: unknown setting "creates" (a type takes create, maintain, delete)',
    )
    expect(refused('link')).toMatch(/^peers\.json: peers\[1\]\.actions: expected an object/)
  })
})

describe('housekeeping in config.json', () => {
  it('reads a duration, and refuses one it cannot read or that is too short', () => {
    expect(housekeepingFromConfig('24h')).toBe(86_400_000)
    expect(housekeepingFromConfig('30m')).toBe(1_800_000)
    expect(housekeepingFromConfig(undefined)).toBeUndefined()
    expect(housekeepingFromConfig('7d')).toBe(604_800_000)
    for (const bad of ['daily', '5s', -1, '', '30d']) {
      expect(() => housekeepingFromConfig(bad)).toThrow(
        /^config\.json: housekeeping: expected a duration from a minute to 24 days/,
      )
    }
  })
})

describe('actions', () => {
  it('create: import makes a new record without matching; export makes none here', async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    insertPerson(a, 'a-anna', 'Anna', 'Berg')
    a.sql.prepare("INSERT INTO organizations(id, name) VALUES ('a-acme', 'Acme')").run()
    insertPerson(b, 'b-anna', 'Anna', 'Berg') // the same Anna: import does not look
    await eventually(async () => (await persons(a.node)).length === 1, 2000)
    await pair(a, b, () => ({
      actions: actionsFromConfig({
        person: { create: 'import' },
        organization: { create: 'export' },
      }),
    }))
    await eventually(() => rows(b).length === 2, 5000)
    expect(rows(b).map((row) => row.first_name)).toEqual(['Anna', 'Anna'])
    // Acme reached B's store, and B's local system did not get it.
    await eventually(async () => (await b.node.store.list('organization')).items.length === 1, 5000)
    await b.local.settled()
    expect(rows(b, 'organizations')).toEqual([])
    // It stays out when it changes later by other hands (here, an edit through the API).
    const [acme] = (await b.node.store.list('organization')).items
    await b.node.store.update(acme!.id, { fields: { website: 'acme.example' } })
    await b.local.settled()
    expect(rows(b, 'organizations')).toEqual([])
    // B's own records still go to A (link, the default, there).
    insertPerson(b, 'b-nora', 'Nora', 'Lie')
    await eventually(() => rows(a).some((row) => row.first_name === 'Nora'), 5000)
  })

  it("maintain: export keeps this system's values over the peer's; import makes the peer's records read-only here", async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    insertPerson(a, 'a-anna', 'Anna', 'Berg')
    await pair(a, b, () => ({ actions: actionsFromConfig({ person: { maintain: 'export' } }) }))
    await eventually(() => rows(b).length === 1, 5000)
    const anna = await objectOf(b, 'Anna')
    a.sql.prepare("UPDATE persons SET email = 'anna@a.example' WHERE id = 'a-anna'").run()
    // B's record is the master: A's change is not written at B, and B's value (none) is
    // written back over it, so both stores end with B's.
    // (A's row was edited to anna@a.example: it reading empty again is B's value back.)
    await eventually(() => rows(a)[0]!.email === null, 5000)
    expect((await a.node.store.get(anna))!.fields.email).toBeUndefined()
    await b.local.settled()
    expect(rows(b)[0]!.email).toBeNull()
    expect((await b.node.store.get(anna))!.fields.email).toBeUndefined()
    // B's own edit still goes to A.
    b.sql.prepare("UPDATE persons SET title = 'Dr'").run()
    await eventually(() => rows(a)[0]!.title === 'Dr', 5000)

    await b.configure(
      new Map([[a.node.id, { actions: actionsFromConfig({ person: { maintain: 'import' } }) }]]),
    )
    // A's records are A's: an edit at B is written over with the merged state, not sent.
    b.sql.prepare("UPDATE persons SET phone = '999'").run()
    await eventually(() => rows(b)[0]!.phone === null, 3000)
    expect((await a.node.store.get(anna))!.fields.phone).toBeUndefined()
    expect((await b.node.store.get(anna))!.fields.phone).toBeUndefined()
    // A deleted row comes back too.
    b.sql.prepare('DELETE FROM persons').run()
    await eventually(() => rows(b).length === 1, 3000)
    // And A's edits are written here.
    a.sql.prepare("UPDATE persons SET phone = '555' WHERE id = 'a-anna'").run()
    await eventually(() => rows(b)[0]!.phone === '555', 5000)
  })

  it('delete: archive (the default), delete, or leave the group only', async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    for (const [id, first] of [
      ['a1', 'Archie'],
      ['a2', 'Del'],
      ['a3', 'Leif'],
    ] as const) {
      insertPerson(a, id, first, 'X')
    }
    await pair(a, b, () => ({}))
    await eventually(() => rows(b).length === 3, 5000)
    const keyAt = (node: LocalNode, first: string) =>
      String(rows(node).find((row) => row.first_name === first)!.id)

    a.sql.prepare("DELETE FROM persons WHERE id = 'a1'").run()
    await eventually(() => rows(b).find((row) => row.first_name === 'Archie')?.archived === 1, 5000)
    // Deleted here, at A: the row stays gone (it is not brought back as archived).
    await a.local.settled()
    expect(rows(a).map((row) => row.id)).toEqual(['a2', 'a3'])

    await b.configure(
      new Map([[a.node.id, { actions: actionsFromConfig({ person: { delete: 'delete' } }) }]]),
    )
    a.sql.prepare("DELETE FROM persons WHERE id = 'a2'").run()
    await eventually(() => !rows(b).some((row) => row.first_name === 'Del'), 5000)
    expect(rows(b)).toHaveLength(2)

    const leif = keyAt(b, 'Leif')
    b.sql.prepare("INSERT INTO group_members VALUES ('Partners', ?), ('Board', ?)").run(leif, leif)
    await b.configure(
      new Map([
        [
          a.node.id,
          {
            actions: actionsFromConfig({ person: { delete: 'leave-group' } }),
            shareGroups: { person: ['Partners'] },
          },
        ],
      ]),
    )
    a.sql.prepare("DELETE FROM persons WHERE id = 'a3'").run()
    const groups = () =>
      b.sql.prepare('SELECT group_name FROM group_members WHERE object_id = ?').all(leif)
    await eventually(() => groups().length === 1, 5000)
    expect(groups()).toEqual([{ group_name: 'Board' }])
    expect(rows(b).find((row) => row.id === leif)).toMatchObject({
      first_name: 'Leif',
      archived: 0,
    })
  })
})

describe('group rules', () => {
  it('share the records in the groups, follow membership changes, and keep arrivals in', async () => {
    const a = await localNode('a', { share: { person: { groups: ['Partners'] } } })
    const b = await localNode('b')
    insertPerson(a, 'p1', 'In', 'Group')
    insertPerson(a, 'p2', 'Not', 'Yet')
    a.sql.prepare("INSERT INTO group_members VALUES ('Partners', 'p1')").run()
    await eventually(async () => (await persons(a.node)).length === 2, 2000)
    await a.configure(new Map())
    const left: ObjectId[] = []
    b.node.engine.on('left', (_, objects) => left.push(...objects))
    await pair(a, b, () => ({}))
    await eventually(() => rows(b).length === 1, 5000)
    expect(rows(b)[0]!.first_name).toBe('In')
    // Into the group: it goes; out of it: the peer hears it left (and keeps its copy).
    a.sql.prepare("INSERT INTO group_members VALUES ('Partners', 'p2')").run()
    await eventually(() => rows(b).length === 2, 5000)
    a.sql.prepare("DELETE FROM group_members WHERE object_id = 'p1'").run()
    const p1 = await objectOf(a, 'In')
    await eventually(() => left.includes(p1), 5000)
    a.sql.prepare("UPDATE persons SET title = 'hidden' WHERE id = 'p1'").run()
    a.sql.prepare("UPDATE persons SET title = 'shown' WHERE id = 'p2'").run()
    await eventually(() => rows(b).some((row) => row.title === 'shown'), 5000)
    expect(rows(b).some((row) => row.title === 'hidden')).toBe(false)
    // A person B creates arrives at A, joins the group there, and B's edits keep coming.
    await a.configure(new Map([[b.node.id, { shareGroups: { person: ['Partners'] } }]]))
    insertPerson(b, 'b-nora', 'Nora', 'Lie')
    await eventually(() => rows(a).some((row) => row.first_name === 'Nora'), 5000)
    const nora = String(rows(a).find((row) => row.first_name === 'Nora')!.id)
    await eventually(
      () =>
        a.sql.prepare('SELECT group_name FROM group_members WHERE object_id = ?').get(nora) !==
        undefined,
      3000,
    )
    b.sql.prepare("UPDATE persons SET email = 'nora@b.example' WHERE id = 'b-nora'").run()
    await eventually(() => rows(a).some((row) => row.email === 'nora@b.example'), 5000)

    // Membership changed while A's daemon is stopped goes out when it starts again.
    await a.local.stop()
    insertPerson(a, 'p3', 'Offline', 'Joiner')
    a.sql.prepare("INSERT INTO group_members VALUES ('Partners', 'p3')").run()
    a.sql.prepare("DELETE FROM _objectsync_changes WHERE table_name = 'group_members'").run()
    await a.restart()
    await eventually(() => rows(b).some((row) => row.first_name === 'Offline'), 5000)

    // A record deleted together with its membership: the peer gets the delete, not a
    // mere "left" (the default delete action there archives it).
    const p2 = await objectOf(a, 'Not')
    a.sql.exec(
      "DELETE FROM group_members WHERE object_id = 'p2'; DELETE FROM persons WHERE id = 'p2'",
    )
    await eventually(async () => (await b.node.store.get(p2))?.deleted === true, 5000)
    expect(left).not.toContain(p2)
  })
})

describe('housekeeping', () => {
  it('reconciles what the change log and the projection missed, both ways', async () => {
    const { node, local, sql, restart } = await localNode('a', { pollMs: 600_000 })
    insertPerson({ sql } as LocalNode, 'p1', 'Anna', 'Berg')
    insertPerson({ sql } as LocalNode, 'p2', 'Ole', 'Dahl')
    await local.settled()
    const anna = await objectOf({ node } as LocalNode, 'Anna')
    const ole = await objectOf({ node } as LocalNode, 'Ole')
    await local.stop()
    // Edits whose change-log entries are lost, and a store change the projection skipped.
    sql.prepare("UPDATE persons SET email = 'anna@example.org' WHERE id = 'p1'").run()
    sql.prepare("DELETE FROM persons WHERE id = 'p2'").run()
    sql.prepare('DELETE FROM _objectsync_changes').run()
    const before = await node.store.readFeed(0, 10_000)
    await node.store.update(anna, { fields: { title: 'Dr' } })
    const last = (await node.store.readFeed(0, 10_000)).length
    expect(last).toBe(before.length + 1)
    await node.store.putSyncState('local/projected', new TextEncoder().encode(String(last)))
    const restarted = await restart()
    await restarted.settled()
    expect((await node.store.get(anna))!.fields.email).toBeUndefined()
    expect(sql.prepare("SELECT title FROM persons WHERE id = 'p1'").get()).toEqual({ title: null })

    await restarted.housekeeping()
    expect((await node.store.get(anna))!.fields).toMatchObject({
      email: 'anna@example.org',
      title: 'Dr',
    })
    expect((await node.store.get(ole))!.deleted).toBe(true)
    expect(sql.prepare("SELECT email, title FROM persons WHERE id = 'p1'").get()).toEqual({
      email: 'anna@example.org',
      title: 'Dr',
    })
  })
})

describe('plan', () => {
  it('shows per peer what the next run would do, and writes nothing', async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    insertPerson(a, 'a-anna', 'Anna', 'Berg')
    insertPerson(a, 'a-ole', 'Ole', 'Dahl')
    a.sql.prepare("INSERT INTO organizations(id, name) VALUES ('a-acme', 'Acme')").run()
    insertPerson(b, 'b-anna', 'anna', 'BERG')
    insertPerson(b, 'b-per', 'Per', 'Hansen')
    await eventually(async () => (await persons(a.node)).length === 2, 2000)
    await eventually(async () => (await persons(b.node)).length === 2, 2000)
    await b.configure(
      new Map([
        [a.node.id, { actions: actionsFromConfig({ organization: { create: 'export' } }) }],
      ]),
    )
    await b.local.stop()
    // While B's bridge is stopped: A's records reach B's store, and B's table changes.
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    // All four stored (A's Anna and B's may meanwhile be merged, by A: one then lists).
    await eventually(async () => (await b.node.store.count('person')) === 4, 5000)
    insertPerson(b, 'b-nora', 'Nora', 'Lie')
    b.sql.prepare("UPDATE persons SET phone = '555' WHERE id = 'b-per'").run()
    b.sql
      .prepare(
        "INSERT INTO persons(id, first_name, last_name, birthday) VALUES ('b-bad', 'Bad', 'Date', 'soon')",
      )
      .run()

    const state = async () => ({
      rows: rows(b),
      log: b.sql.prepare('SELECT count(*) AS n FROM _objectsync_changes').get(),
      feed: (await b.node.store.readFeed(0, 100_000)).length,
    })
    const before = await state()
    const planner = b.fresh()
    await planner.open()
    const plan = await planner.plan({
      peers: [a.node.id],
      // A sees persons only, none called Per.
      inScope: (_, type, fields) => type === 'person' && fields.firstName !== 'Per',
    })
    await planner.stop()
    expect(await state()).toEqual(before)

    const [incoming] = plan.incoming
    expect(incoming!.peer).toBe(a.node.id)
    const summary = (list: { items: { key?: string; table: string; reason?: string }[] }) =>
      list.items.map((item) => item.key ?? `${item.table}${item.reason ? `: ${item.reason}` : ''}`)
    // B's Anna is linked to A's, or — merged by A already — stands for the merged record.
    expect([...summary(incoming!.link), ...summary(incoming!.relink)]).toEqual(['b-anna'])
    expect(incoming!.import.count).toBe(1)
    expect(incoming!.skip.items).toMatchObject([
      { table: 'organizations', reason: 'create: export' },
    ])
    const [outgoing] = plan.outgoing
    expect(outgoing!.peer).toBe(a.node.id)
    expect(summary(outgoing!.export)).toEqual(['b-nora'])
    expect(outgoing!.update.count).toBe(0) // Per is not A's to see
    expect(outgoing!.bad.items).toMatchObject([{ key: 'b-bad', column: 'birthday' }])

    // What the plan said is what the run does.
    await b.restart()
    await eventually(() => rows(b).some((row) => row.first_name === 'Ole'), 5000)
    await b.local.settled()
    expect(rows(b).filter((row) => String(row.first_name).toLowerCase() === 'anna')).toHaveLength(1)
    expect(rows(b, 'organizations')).toEqual([])
  })
})

describe('matching', () => {
  it("keeps a peer's two people of the same name two here", async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    insertPerson(a, 'a-per1', 'Per', 'Hansen')
    insertPerson(a, 'a-per2', 'Per', 'Hansen')
    await eventually(async () => (await persons(a.node)).length === 2, 2000)
    await pair(a, b, () => ({}))
    await eventually(() => rows(b).length === 2, 5000)
    await b.local.settled()
    await a.local.settled()
    expect(rows(b)).toHaveLength(2)
    expect((await persons(a.node)).filter((person) => !person.deleted)).toHaveLength(2)
    expect(await b.local.reviewQueue()).toEqual([])
  })
})
