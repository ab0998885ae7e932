// What a crash between two writes of the local sync could leave, and the next start
// making no second object of one record of it (found by the crash campaign).
import { describe, expect, it } from 'vitest'
import { linkName, localState } from '../../src/local/local-sync/state-keys.ts'
import { localNode, persons } from '../helpers/local-nodes.ts'
import { eventually, pairNodes } from '../helpers/sync-nodes.ts'

describe('a crash between writing a row and linking it', () => {
  it('leaves a row the next start links again, not a second record', async () => {
    const a = await localNode('a')
    const b = await localNode('b', { pollMs: 60_000 })
    await pairNodes(a.node, b.node)
    b.node.engine.connect(a.node.id)
    a.sql
      .prepare(
        "INSERT INTO persons(id, first_name, last_name, email) VALUES ('a1', 'Ingrid', 'Moen', 'i@x.org')",
      )
      .run()
    await a.local.settled()
    const [made] = await persons(a.node)
    const id = made!.id
    // B imports it: a row whose key is the object's id.
    await eventually(
      () => b.sql.prepare('SELECT id FROM persons WHERE id = ?').get(id) !== undefined,
    )
    await b.local.settled()
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
    expect(b.sql.prepare('SELECT count(*) AS n FROM persons').get()).toEqual({ n: 1 })
    await a.close()
    await b.close()
  })
})
