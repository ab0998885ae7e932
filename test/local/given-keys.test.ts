// A table whose keys SQLite gives (INTEGER PRIMARY KEY): the rows the daemon inserts for
// objects are known as its own by the link (not by their keys), so after a merge its
// second row of one record goes and the users' row stays, across a restart.
import { describe, expect, it } from 'vitest'
import { localNode } from '../helpers/local-nodes.ts'
import { eventually } from '../helpers/sync-nodes.ts'

describe('the second row of one record, in a table whose keys SQLite gives', () => {
  it('is the row the daemon inserted that goes after a merge, also after a restart', async () => {
    const node = await localNode('a', {
      entities: {
        person: {
          table: 'people',
          key: 'id',
          fields: { firstName: 'first', lastName: 'last', email: 'email', phone: 'phone' },
        },
      },
      before:
        'CREATE TABLE people(id INTEGER PRIMARY KEY, first TEXT, last TEXT, email TEXT, phone TEXT)',
      pollMs: 60_000,
    })
    const rows = () =>
      node.sql.prepare('SELECT id, first FROM people ORDER BY id').all() as {
        id: number
        first: string
      }[]
    const arriving = await node.node.store.create({
      type: 'person',
      fields: { firstName: 'Kai', lastName: 'Holm', email: 'kai@example.org' },
    })
    await eventually(() => rows().length === 1, 3000)
    const [inserted] = rows()
    // Known as the daemon's across a restart (the link remembers the key SQLite gave).
    await node.restart()
    const users = node.sql
      .prepare("INSERT INTO people(first, last) VALUES ('Kai', 'Holm')")
      .run().lastInsertRowid
    await node.local.settled()
    const own = (await node.node.store.list('person', {})).items.find(
      (person) => person.id !== arriving.id,
    )!
    await node.node.store.merge(arriving.id, own.id)
    await eventually(() => rows().length === 1, 3000)
    await node.local.settled()
    expect(rows().map((row) => row.id)).toEqual([Number(users)])
    expect(rows()[0]!.id).not.toBe(inserted!.id)
    expect(await node.local.reviewQueue()).toEqual([])
  })
})
