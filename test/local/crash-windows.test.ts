// What a crash between two writes of the local sync could leave, and the next start
// making no second object of one record of it (found by the crash campaign).
import { describe, expect, it } from 'vitest'
import { linkName, localState } from '../../src/local/local-sync/state-keys.ts'
import type { EntityMapping } from '../../src/local/mapping/index.ts'
import { localNode, persons } from '../helpers/local-nodes.ts'
import { eventually, pairNodes } from '../helpers/sync-nodes.ts'

/** Edits another program makes, one right after each of the daemon's reads of the row. */
const EDITS = 3

/**
 * A and B paired, a person made at A and imported at B (a row keyed by its object's id),
 * B's change log read only when the test says; `between.edit`, once set with `between.key`,
 * runs right after each of B's first EDITS reads of that row, as another program would.
 */
async function pairedWithEditsBetween() {
  const between: { key?: string; edit?: (read: number) => void; reads?: number } = {}
  const a = await localNode('a')
  const b = await localNode('b', {
    pollMs: 60_000,
    // Right after the daemon reads the row it is about to write, another program edits it.
    wrapConnector: (connector) => {
      const read = async (entity: EntityMapping, key: string) => {
        const row = await connector.read(entity, key)
        const edit = between.edit
        if (key === between.key && edit !== undefined) {
          between.reads = (between.reads ?? 0) + 1
          edit(between.reads)
          if (between.reads === EDITS) delete between.edit
        }
        return row
      }
      return new Proxy(connector, {
        get: (target, name) => {
          if (name === 'read') return read
          const value: unknown = Reflect.get(target, name)
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value
        },
      })
    },
  })
  await pairNodes(a.node, b.node)
  b.node.engine.connect(a.node.id)
  a.sql
    .prepare(
      "INSERT INTO persons(id, first_name, last_name, title) VALUES ('a1', 'Ingrid', 'Moen', 'Ms')",
    )
    .run()
  await a.local.settled()
  const [made] = await persons(a.node)
  const id = made!.id
  await eventually(() => b.sql.prepare('SELECT id FROM persons WHERE id = ?').get(id) !== undefined)
  await b.local.settled()
  return { a, b, between, id }
}

describe('a crash between writing a row and linking it', () => {
  it('leaves a row the next start links again, not a second record', async () => {
    // B imported A's person: a row whose key is the object's id.
    const { a, b, id } = await pairedWithEditsBetween()
    // As a crash after the row's write and before its link's would leave it, with the
    // row's change-log entry not read yet.
    await b.local.stop()
    await b.node.store.updateSyncState([
      localState.link.entry(linkName('person', id), undefined),
      localState.object.entry(id, undefined),
    ])
    b.sql.prepare("UPDATE persons SET title = 'Dr' WHERE id = ?").run(id)
    const restarted = await b.restart()
    await restarted.settled()
    expect((await persons(b.node)).map((person) => person.id)).toEqual([id])
    // The edit made in the row meanwhile is taken in, and reaches the peer.
    expect((await persons(b.node))[0]!.fields.title).toBe('Dr')
    await eventually(async () => (await persons(a.node))[0]?.fields.title === 'Dr')
    expect(b.sql.prepare('SELECT count(*) AS n FROM persons').get()).toEqual({ n: 1 })
    await a.close()
    await b.close()
  })
})

describe("another program's edit between the daemon's read of a row and its write", () => {
  it('is taken in and kept, not written over', async () => {
    const { a, b, between, id } = await pairedWithEditsBetween()
    // An edit here not taken in yet: the peer's change then goes the one-at-a-time way.
    b.sql.prepare("UPDATE persons SET email = 'i@b.org' WHERE id = ?").run(id)
    between.key = id
    between.edit = (read) =>
      b.sql.prepare('UPDATE persons SET phone = ? WHERE id = ?').run(`555-${read}`, id)
    a.sql.prepare("UPDATE persons SET title = 'Dr' WHERE id = 'a1'").run()
    const rowAtB = () =>
      b.sql.prepare('SELECT title, phone FROM persons WHERE id = ?').get(id) as {
        title: string
        phone: string | null
      }
    await eventually(() => rowAtB().title === 'Dr')
    expect(between.edit).toBeUndefined()
    await b.local.settled()
    expect(rowAtB()).toEqual({ title: 'Dr', phone: `555-${EDITS}` })
    expect(
      (b.sql.prepare('SELECT email FROM persons WHERE id = ?').get(id) as { email: string }).email,
    ).toBe('i@b.org')
    await eventually(async () => (await persons(a.node))[0]?.fields.phone === `555-${EDITS}`)
  })
})

describe("another program's delete between the daemon's read of a row and its write", () => {
  it('is taken in: the row is not written back', async () => {
    const { a, b, between, id } = await pairedWithEditsBetween()
    b.sql.prepare("UPDATE persons SET email = 'i@b.org' WHERE id = ?").run(id)
    between.key = id
    between.edit = (read) => {
      if (read === 2) b.sql.prepare('DELETE FROM persons WHERE id = ?').run(id)
    }
    a.sql.prepare("UPDATE persons SET title = 'Dr' WHERE id = 'a1'").run()
    await eventually(async () => (await b.node.store.get(id))?.deleted === true)
    await b.local.settled()
    expect(b.sql.prepare('SELECT count(*) AS n FROM persons').get()).toEqual({ n: 0 })
  })
})

describe('a crash between inserting a row whose key the local system gives and linking it', () => {
  it('leaves a row the next full read links again by its object, not a second record', async () => {
    // B keeps persons in a table keyed by SQLite's rowid: its new rows get SQLite's keys.
    const entities = {
      person: {
        table: 'people',
        key: 'id',
        fields: { firstName: 'first', lastName: 'last', title: 'title' },
      },
    }
    const before = 'CREATE TABLE people(id INTEGER PRIMARY KEY, first TEXT, last TEXT, title TEXT)'
    const a = await localNode('a')
    const b = await localNode('b', { entities, before })
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    a.sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('a1', 'Ingrid', 'Moen')")
      .run()
    await a.local.settled()
    const id = (await persons(a.node))[0]!.id
    const rowsAtB = () =>
      b.sql.prepare('SELECT id, first, title FROM people').all() as {
        id: number
        first: string
        title: string | null
      }[]
    await eventually(() => rowsAtB().length === 1)
    await b.local.settled()
    const [row] = rowsAtB()
    expect(row!.id).toEqual(expect.any(Number))
    // As a crash after the row's insert and before its link's would leave it: the link,
    // by the row's own key, is gone.
    await b.local.stop()
    expect(await localState.link.read(b.node.store, linkName('person', String(row!.id)))).toBe(id)
    await b.node.store.updateSyncState([
      localState.link.entry(linkName('person', String(row!.id)), undefined),
      localState.object.entry(id, undefined),
    ])
    const restarted = await b.restart()
    await restarted.housekeeping()
    await restarted.settled()
    expect((await persons(b.node)).map((person) => person.id)).toEqual([id])
    // Linked again: an edit of the row is the object's edit, and reaches the peer.
    b.sql.prepare("UPDATE people SET title = 'Dr' WHERE id = ?").run(row!.id)
    await restarted.settled()
    await eventually(async () => (await persons(a.node))[0]?.fields.title === 'Dr')
    expect((await persons(b.node)).map((person) => person.id)).toEqual([id])
    expect(rowsAtB()).toHaveLength(1)
    await a.close()
    await b.close()
  })
})
