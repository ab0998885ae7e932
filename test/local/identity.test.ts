// Identity across instances, through SQLite on both sides: records matched on both sides
// stay once each, and references follow the records they name.
import { describe, expect, it } from 'vitest'
import { localNode, type LocalNode } from '../helpers/local-nodes.ts'
import { actionsFromConfig } from '../../src/local/index.ts'
import type { ObjectId } from '../../src/model/index.ts'
import { eventually, pairNodes } from '../helpers/sync-nodes.ts'

interface DonationRow {
  id: string
  person_id: string | null
  date: string
  amount: string
}

const donations = (node: LocalNode) =>
  node.sql
    .prepare('SELECT id, person_id, date, amount FROM transactions ORDER BY date')
    .all() as DonationRow[]
const johns = (node: LocalNode) =>
  node.sql.prepare("SELECT id FROM persons WHERE first_name = 'John'").all() as { id: string }[]

describe('identity across instances', () => {
  it('a donor and a donation both sides hold stay once each, and the donor link holds', async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    const person = 'INSERT INTO persons(id, first_name, last_name) VALUES (?, ?, ?)'
    const donation =
      "INSERT INTO transactions(id, type, person_id, date, amount, donor_id) VALUES (?, 'donation', ?, ?, ?, ?)"
    a.sql.prepare(person).run('a-john', 'John', 'Smith')
    a.sql.prepare(donation).run('a-t1', 'a-john', '2026-01-05', '100.00', 'A-17')
    a.sql.prepare(donation).run('a-t2', 'a-john', '2026-02-01', '50.00', 'A-17')
    b.sql.prepare(person).run('b-john', 'John', 'Smith')
    b.sql.prepare(donation).run('b-t1', 'b-john', '2026-01-05', '100.00', 'B-9')
    await eventually(
      async () =>
        (await a.node.store.count('transaction')) === 2 &&
        (await b.node.store.count('transaction')) === 1,
      3000,
    )
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    for (const [node, own] of [
      [a, 'a-john'],
      [b, 'b-john'],
    ] as const) {
      await eventually(() => donations(node).length === 2, 5000)
      await a.local.settled()
      await b.local.settled()
      expect(johns(node)).toEqual([{ id: own }])
      expect(donations(node).map((row) => [row.date, row.person_id])).toEqual([
        ['2026-01-05', own],
        ['2026-02-01', own],
      ])
    }
  })
})

describe('a merge learned through a relay', () => {
  it('a third instance that held neither object writes one row, for the survivor', async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    const c = await localNode('c')
    const person =
      "INSERT INTO persons(id, first_name, last_name, phone) VALUES (?, 'Siri', 'Moe', ?)"
    a.sql.prepare(person).run('a-siri', '111')
    b.sql.prepare(person).run('b-siri', null)
    await eventually(
      async () =>
        (await a.node.store.count('person')) === 1 && (await b.node.store.count('person')) === 1,
      3000,
    )
    // A and B meet and merge; C is paired with B only, and joins after.
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    await eventually(
      async () =>
        (await a.node.store.list('person', {})).items.length === 1 &&
        (await b.node.store.list('person', {})).items.length === 1,
      5000,
    )
    await pairNodes(b.node, c.node)
    c.node.engine.connect(b.node.id)
    const siris = (node: LocalNode) =>
      node.sql.prepare("SELECT id, phone FROM persons WHERE first_name = 'Siri'").all() as {
        id: string
        phone: string | null
      }[]
    await eventually(async () => {
      await c.local.settled()
      return (await c.node.store.count('person')) === 2 && siris(c).length === 1
    }, 5000)
    await c.local.settled()
    const [survivor] = (await c.node.store.list('person', {})).items
    expect(siris(c)).toEqual([{ id: survivor!.id, phone: '111' }])
    expect(survivor!.id).toBe((await a.node.store.list('person', {})).items[0]!.id)
  })
})

describe('two records one instance keeps apart', () => {
  it('stay two on every instance, also where they arrive through another instance', async () => {
    const [a, b, c] = [await localNode('a'), await localNode('b'), await localNode('c')]
    const per = 'INSERT INTO persons(id, first_name, last_name) VALUES (?, ?, ?)'
    a.sql.prepare(per).run('a-per1', 'Per', 'Hansen')
    a.sql.prepare(per).run('a-per2', 'Per', 'Hansen')
    c.sql.prepare(per).run('c-per', 'PER', 'hansen')
    await Promise.all([a, c].map((node) => node.local.settled()))
    // A – B – C: C learns of A's two only through B.
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    await pairNodes(b.node, c.node)
    c.node.engine.connect(b.node.id)
    const pers = (node: LocalNode) =>
      (
        node.sql
          .prepare("SELECT count(*) AS n FROM persons WHERE lower(first_name) = 'per'")
          .get() as { n: number }
      ).n
    const settled = async () => {
      await Promise.all([a, b, c].map((node) => node.local.settled()))
      for (const node of [a, b, c]) {
        if (pers(node) !== 2 || (await node.node.store.list('person', {})).items.length !== 2) {
          return false
        }
      }
      return (await a.local.reviewQueue()).length === 0
    }
    await eventually(settled, 8000).catch(() => {})
    for (const node of [a, b, c]) {
      expect(pers(node)).toBe(2)
      expect((await node.node.store.list('person', {})).items).toHaveLength(2)
    }
    // A's two were never made one (no review of two rows of one record there).
    expect(await a.local.reviewQueue()).toEqual([])
    expect(
      a.node.store.groupOf((await a.node.store.list('person', {})).items[0]!.id),
    ).not.toContain((await a.node.store.list('person', {})).items[1]!.id)
  })
})

describe('concurrent creates', () => {
  it('the same person created on two connected instances within 50 ms is one row on each', async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    await eventually(
      () => a.node.engine.state(b.node.id).connected && b.node.engine.state(a.node.id).connected,
      3000,
    )
    const person = "INSERT INTO persons(id, first_name, last_name) VALUES (?, 'Eva', 'Lund')"
    a.sql.prepare(person).run('a-eva')
    await new Promise((resolve) => setTimeout(resolve, 20))
    b.sql.prepare(person).run('b-eva')
    const evas = (node: LocalNode) =>
      node.sql.prepare("SELECT id FROM persons WHERE first_name = 'Eva'").all() as {
        id: string
      }[]
    await eventually(async () => {
      await a.local.settled()
      await b.local.settled()
      const [atA, atB] = [
        await a.node.store.list('person', {}),
        await b.node.store.list('person', {}),
      ]
      return (
        atA.items.length === 1 && atB.items.length === 1 && atA.items[0]!.id === atB.items[0]!.id
      )
    }, 5000)
    // Each side's own row stays; a row written for the other's object meanwhile goes.
    await eventually(() => evas(a).length === 1 && evas(b).length === 1, 5000).catch(() => {})
    expect(evas(a)).toEqual([{ id: 'a-eva' }])
    expect(evas(b)).toEqual([{ id: 'b-eva' }])
    // Edits after the merge reach the other side's row, both ways, and write no second
    // row there (the row kept must stand for the survivor, not the merged object).
    // (A new last name: the records no longer match by name, so only the link can tell.)
    a.sql.prepare("UPDATE persons SET last_name = 'Lund-Berg' WHERE id = 'a-eva'").run()
    const titles = (node: LocalNode) =>
      node.sql.prepare("SELECT id, last_name FROM persons WHERE first_name = 'Eva'").all()
    await eventually(
      () => (titles(b)[0] as { last_name: string | null }).last_name === 'Lund-Berg',
      5000,
    ).catch(() => {})
    b.sql.prepare("UPDATE persons SET phone = '4242' WHERE id = 'b-eva'").run()
    const phone = (node: LocalNode) =>
      (
        node.sql.prepare("SELECT phone FROM persons WHERE first_name = 'Eva'").get() as {
          phone: string | null
        }
      ).phone
    await eventually(() => phone(a) === '4242', 5000)
    expect(titles(a)).toEqual([{ id: 'a-eva', last_name: 'Lund-Berg' }])
    expect(titles(b)).toEqual([{ id: 'b-eva', last_name: 'Lund-Berg' }])
  })
})

describe('the match review and merges', () => {
  // Regression: the review listed an object another instance had already merged away,
  // and "keep separate" wrote a row for it (three rows of one person on one side).
  it('drops an object merged meanwhile, and keeping it separate writes no row', async () => {
    const { node, local, sql } = await localNode('a')
    const insert = sql.prepare(
      "INSERT INTO persons(id, first_name, last_name, email) VALUES (?, 'Jon', 'Smith', ?)",
    )
    insert.run('m1', 'jon@example.org')
    insert.run('m2', 'j.smith@example.org')
    await eventually(async () => (await node.store.count('person')) === 2, 3000)
    const arriving = await node.store.create({
      type: 'person',
      fields: { firstName: 'Jon', lastName: 'Smith' },
    })
    await eventually(async () => (await local.reviewQueue()).length === 1, 3000)
    const first = (await node.store.list('person', {})).items.find(
      (person) => person.fields.email === 'jon@example.org',
    )!
    await node.store.merge(arriving.id, first.id)
    expect(await local.reviewQueue()).toEqual([])
    await local.resolveMatch(arriving.id, 'separate')
    await local.settled()
    const rows = sql.prepare("SELECT id FROM persons WHERE first_name = 'Jon' ORDER BY id").all()
    expect(rows).toEqual([{ id: 'm1' }, { id: 'm2' }])
  })
})

describe('references that wait for a record', () => {
  /** A person that waits for review (two local rows match it) and a donation naming it. */
  async function waitingDonation(node: LocalNode) {
    const insert = node.sql.prepare(
      "INSERT INTO persons(id, first_name, last_name, email) VALUES (?, 'Jon', 'Smith', ?)",
    )
    insert.run('m1', 'jon@example.org')
    insert.run('m2', 'j.smith@example.org')
    await eventually(async () => (await node.node.store.count('person')) === 2, 3000)
    return { person: await node.node.store.create(jon), donation: await donationOf(node) }
  }
  const jon = { type: 'person', fields: { firstName: 'Jon', lastName: 'Smith' } } as const
  let arriving: ObjectId
  async function donationOf(node: LocalNode) {
    arriving = (await node.node.store.list('person', {})).items.find(
      (person) => person.fields.email === undefined,
    )!.id
    return node.node.store.create({
      type: 'transaction',
      fields: { type: 'donation', personId: arriving, date: '2026-03-01', amount: '20.00' },
    })
  }
  const personOf = (node: LocalNode, id: ObjectId) =>
    node.sql.prepare('SELECT person_id FROM transactions WHERE id = ?').get(id)

  it('a donation written while its person waits for review names the row the review picks, across a restart', async () => {
    const node = await localNode('a')
    const { person, donation } = await waitingDonation(node)
    await eventually(async () => (await node.local.reviewQueue()).length === 1, 3000)
    await node.local.settled()
    // The person has no row yet: the column stays empty rather than naming nothing.
    expect(personOf(node, donation.id)).toEqual({ person_id: null })
    await node.restart()
    await node.local.resolveMatch(person.id, { link: 'm1' })
    await node.local.settled()
    expect(personOf(node, donation.id)).toEqual({ person_id: 'm1' })
  })

  it('"keep separate" writes the person\'s own row, and the donation names it', async () => {
    const node = await localNode('a')
    const { person, donation } = await waitingDonation(node)
    await eventually(async () => (await node.local.reviewQueue()).length === 1, 3000)
    await node.local.resolveMatch(person.id, 'separate')
    expect(personOf(node, donation.id)).toEqual({ person_id: person.id })
  })

  it("filling the reference in does not send an empty one back under a peer's maintain: export", async () => {
    const a = await localNode('a')
    const b = await localNode('b')
    const insert = b.sql.prepare(
      "INSERT INTO persons(id, first_name, last_name, email) VALUES (?, 'Jon', 'Smith', ?)",
    )
    insert.run('m1', 'jon@example.org')
    insert.run('m2', 'j.smith@example.org')
    await b.local.settled()
    await b.configure(
      new Map([
        [a.node.id, { actions: actionsFromConfig({ transaction: { maintain: 'export' } }) }],
      ]),
    )
    // A writes B's people as rows of their own, so the match is decided at B only.
    await a.configure(
      new Map([[b.node.id, { actions: actionsFromConfig({ person: { create: 'import' } }) }]]),
    )
    a.sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('a-jon', 'Jon', 'Smith')")
      .run()
    a.sql
      .prepare(
        "INSERT INTO transactions(id, type, person_id, date, amount) VALUES ('a-t', 'donation', 'a-jon', '2026-03-01', '20.00')",
      )
      .run()
    await a.local.settled()
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    await eventually(async () => (await b.local.reviewQueue()).length === 1, 5000)
    await eventually(() => b.sql.prepare('SELECT 1 FROM transactions').get() !== undefined, 5000)
    const [item] = await b.local.reviewQueue()
    await b.local.resolveMatch(item!.object, { link: 'm1' })
    await b.local.settled()
    expect(b.sql.prepare('SELECT person_id FROM transactions').all()).toEqual([{ person_id: 'm1' }])
    await new Promise((resolve) => setTimeout(resolve, 300))
    await a.local.settled()
    expect(a.sql.prepare("SELECT person_id FROM transactions WHERE id = 'a-t'").get()).toEqual({
      person_id: 'a-jon',
    })
    const [donation] = (await a.node.store.list('transaction', {})).items
    expect(donation!.fields.personId).toBeDefined()
  })
})

describe('the second row of one record', () => {
  /**
   * An object that arrived and was written as its own row, then a row `u1` someone made
   * for the same person before the two were matched (as in a race).
   */
  async function twoRows(options: { pollMs?: number } = {}) {
    const node = await localNode('a', options)
    const arriving = await node.node.store.create({
      type: 'person',
      fields: { firstName: 'Kai', lastName: 'Holm', email: 'kai@example.org' },
    })
    await eventually(() => rows(node).length === 1, 3000)
    node.sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('u1', 'Kai', 'Holm')")
      .run()
    await node.local.settled()
    const own = (await node.node.store.list('person', {})).items.find(
      (person) => person.id !== arriving.id,
    )!
    return { node, own, arriving }
  }
  const rows = (node: LocalNode) =>
    node.sql.prepare('SELECT id, phone FROM persons ORDER BY id').all() as {
      id: string
      phone: string | null
    }[]

  it('goes after a merge, and an edit made to it and not read yet lands on the record', async () => {
    const { node, own, arriving } = await twoRows({ pollMs: 60_000 })
    expect(rows(node).map((row) => row.id)).toEqual([arriving.id, 'u1'].sort())
    // Someone edits the daemon's row; the change log is not read before the merge.
    node.sql.prepare('UPDATE persons SET phone = ? WHERE id = ?').run('555', arriving.id)
    await node.node.store.merge(arriving.id, own.id)
    await eventually(() => rows(node).length === 1, 3000)
    await node.local.settled()
    expect(rows(node)).toEqual([{ id: 'u1', phone: '555' }])
    const survivor = await node.node.store.get(node.node.store.survivorOf(own.id))
    expect(survivor?.fields).toMatchObject({ phone: '555', email: 'kai@example.org' })
  })

  it('a remove the local system refuses is finished later, and the row is never taken in as new', async () => {
    const { node, own, arriving } = await twoRows()
    node.sql.exec(
      "CREATE TRIGGER refuse BEFORE DELETE ON persons BEGIN SELECT RAISE(ABORT, 'locked'); END",
    )
    await node.node.store.merge(arriving.id, own.id)
    await node.local.settled()
    expect(rows(node)).toHaveLength(2)
    // Edited meanwhile: still not a record of its own.
    node.sql.prepare('UPDATE persons SET phone = ? WHERE id = ?').run('777', arriving.id)
    await node.local.settled()
    expect((await node.node.store.list('person', {})).items).toHaveLength(1)
    node.sql.exec('DROP TRIGGER refuse')
    await node.restart()
    await node.local.settled()
    expect(rows(node).map((row) => row.id)).toEqual(['u1'])
    expect((await node.node.store.list('person', {})).items).toHaveLength(1)
  })
})

describe('two rows the users made for one record', () => {
  async function twoUsersRows() {
    const node = await localNode('a')
    const person = 'INSERT INTO persons(id, first_name, last_name, phone) VALUES (?, ?, ?, ?)'
    node.sql.prepare(person).run('r1', 'Lea', 'Lind', null)
    node.sql.prepare(person).run('r2', 'LEA', 'LIND', '123')
    node.sql
      .prepare(
        "INSERT INTO transactions(id, type, person_id, date, amount) VALUES ('t2', 'donation', 'r2', '2026-04-01', '5.00')",
      )
      .run()
    await node.local.settled()
    const [first, second] = (await node.node.store.list('person', {})).items
    // Another instance decided they are one (here: the API's merge).
    await node.node.store.merge(first!.id, second!.id)
    await eventually(async () => (await node.local.reviewQueue()).length === 1, 3000)
    return node
  }
  const persons = (node: LocalNode) =>
    node.sql.prepare('SELECT id, phone FROM persons ORDER BY id').all()

  it('wait for review; the row picked stays, with what the other had, and references follow', async () => {
    const node = await twoUsersRows()
    const [item] = await node.local.reviewQueue()
    expect(item).toMatchObject({ rows: true, candidates: expect.arrayContaining(['r1', 'r2']) })
    // Neither row went on its own.
    expect(persons(node)).toHaveLength(2)
    await node.local.resolveMatch(item!.object, { link: 'r1' })
    await node.local.settled()
    expect(persons(node)).toEqual([{ id: 'r1', phone: '123' }])
    expect(node.sql.prepare("SELECT person_id FROM transactions WHERE id = 't2'").get()).toEqual({
      person_id: 'r1',
    })
    expect(await node.local.reviewQueue()).toEqual([])
    expect((await node.node.store.list('person', {})).items).toHaveLength(1)
  })

  /** r1 and then r2 taken in (so r1's object has the smaller id and survives), merged. */
  async function rowsInOrder(r2OrganizationId: string | null) {
    const node = await localNode('a')
    const person =
      'INSERT INTO persons(id, first_name, last_name, phone, organization_id) VALUES (?, ?, ?, ?, ?)'
    node.sql.prepare(person).run('r1', 'Lea', 'Lind', '123', null)
    await node.local.settled()
    await new Promise((resolve) => setTimeout(resolve, 5))
    node.sql.prepare(person).run('r2', 'LEA', 'LIND', null, r2OrganizationId)
    await node.local.settled()
    const [first, second] = (await node.node.store.list('person', {})).items
    expect(first!.fields.phone).toBe('123')
    await node.node.store.merge(first!.id, second!.id)
    await eventually(async () => (await node.local.reviewQueue()).length === 1, 3000)
    const [item] = await node.local.reviewQueue()
    expect(item!.object).toBe(first!.id)
    return { node, item: item! }
  }

  it('a row never seen whole (its reference unresolved) is not taken in over the record as it goes', async () => {
    const { node, item } = await rowsInOrder('no-such-org')
    await node.local.resolveMatch(item.object, { link: 'r1' })
    await node.local.settled()
    expect(node.sql.prepare('SELECT id, first_name, phone FROM persons').all()).toEqual([
      { id: 'r1', first_name: 'Lea', phone: '123' },
    ])
    expect((await node.node.store.get(item.object))!.fields).toMatchObject({
      firstName: 'Lea',
      phone: '123',
    })
  })

  it("the row of the object that is not the survivor may be picked: it stays, showing the record's values", async () => {
    const { node, item } = await rowsInOrder(null)
    await node.local.resolveMatch(item.object, { link: 'r2' })
    await node.local.settled()
    expect(node.sql.prepare('SELECT id, first_name, phone FROM persons').all()).toEqual([
      { id: 'r2', first_name: 'Lea', phone: '123' },
    ])
    expect((await node.node.store.list('person', {})).items).toHaveLength(1)
  })

  it('an object arriving meanwhile that matches the record waits for review too, and the rows still do', async () => {
    const node = await twoUsersRows()
    const arriving = await node.node.store.create({
      type: 'person',
      fields: { firstName: 'Lea', lastName: 'Lind' },
    })
    await eventually(async () => (await node.local.reviewQueue()).length === 2, 3000)
    const queue = await node.local.reviewQueue()
    expect(queue.find((item) => item.rows === true)?.candidates.sort()).toEqual(['r1', 'r2'])
    expect(queue.find((item) => item.object === arriving.id)?.candidates).toHaveLength(2)
    expect(persons(node)).toHaveLength(2)
    // Linking it to one of the rows merges it, and leaves both rows to the rows review.
    await node.local.resolveMatch(arriving.id, { link: 'r2' })
    await node.local.settled()
    const after = await node.local.reviewQueue()
    expect(after.map((item) => [item.rows, item.candidates.sort()])).toEqual([[true, ['r1', 'r2']]])
    expect((await node.node.store.list('person', {})).items).toHaveLength(1)
  })

  it('a pick that is not one of the rows is refused, and the item waits on', async () => {
    const node = await twoUsersRows()
    const [item] = await node.local.reviewQueue()
    await expect(node.local.resolveMatch(item!.object, { link: 'r9' })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    })
    expect(await node.local.reviewQueue()).toHaveLength(1)
    expect(persons(node)).toHaveLength(2)
  })

  it('"keep separate" undoes the merge: both rows stay, two records, and the review does not come back', async () => {
    const node = await twoUsersRows()
    const [item] = await node.local.reviewQueue()
    await node.local.resolveMatch(item!.object, 'separate')
    await node.local.settled()
    expect(persons(node)).toEqual([
      { id: 'r1', phone: null },
      { id: 'r2', phone: '123' },
    ])
    expect((await node.node.store.list('person', {})).items).toHaveLength(2)
    expect(await node.local.reviewQueue()).toEqual([])
  })
})

describe('unmerge', () => {
  it('parts two merged records for good: matching does not merge them again', async () => {
    const { node, local, sql } = await localNode('a')
    sql
      .prepare(
        "INSERT INTO persons(id, first_name, last_name, email) VALUES ('m1', 'Kai', 'Berg', 'kai@example.org')",
      )
      .run()
    await eventually(async () => (await node.store.count('person')) === 1, 3000)
    const arriving = await node.store.create({
      type: 'person',
      fields: { firstName: 'Kai', lastName: 'Berg', phone: '999' },
    })
    await eventually(async () => (await node.store.list('person', {})).items.length === 1, 3000)
    const [survivor] = (await node.store.list('person', {})).items
    const merged = survivor!.id === arriving.id ? survivor!.merged![0]! : arriving.id
    expect(survivor!.fields).toMatchObject({ email: 'kai@example.org', phone: '999' })
    await node.store.unmerge(merged)
    await local.settled()
    await eventually(async () => {
      await local.settled()
      return sql.prepare("SELECT id FROM persons WHERE first_name = 'Kai'").all().length === 2
    }, 3000)
    expect(node.store.survivorOf(merged)).toBe(merged)
    expect((await node.store.list('person', {})).items).toHaveLength(2)
    const phones = sql
      .prepare("SELECT phone, email FROM persons WHERE first_name = 'Kai' ORDER BY phone")
      .all()
    // Each record with the fields it had: the row's own email, the arriving one's phone.
    expect(phones).toEqual([
      { phone: null, email: 'kai@example.org' },
      { phone: '999', email: null },
    ])
  })
})

describe('references written first', () => {
  // Regression (review): objects naming each other made the projector follow the cycle
  // for ever (a peer could hang the daemon); each is followed once per chain.
  it('two objects that name each other are both written, once', async () => {
    const local = await localNode('a')
    const { node, sql } = local
    // Neither has a row when projecting starts: the bridge is stopped while they are made.
    await local.local.stop()
    const first = await node.store.create({
      type: 'person',
      fields: { firstName: 'Cy', lastName: 'Cle' },
    })
    const second = await node.store.create({
      type: 'person',
      fields: { firstName: 'Re', lastName: 'Cur', organizationId: first.id },
    })
    await node.store.update(first.id, { fields: { organizationId: second.id } })
    await local.restart()
    await eventually(() => sql.prepare('SELECT id FROM persons').all().length === 2, 3000)
    // Ids made in one millisecond sort at random: compare in id order.
    expect(sql.prepare('SELECT id FROM persons ORDER BY id').all()).toEqual(
      [first.id, second.id].sort().map((id) => ({ id })),
    )
  })
})
