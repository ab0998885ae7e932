// The daemon beside other programs writing to the same SQLite file, as in every real
// deployment: its own writes must neither be refused half-way nor wait for housekeeping.
import { describe, expect, it } from 'vitest'
import { runTs, waitForLine } from '../helpers/child.ts'
import { DEFAULT_SCHEMA } from '../../src/local/index.ts'
import { localNode, type LocalNode } from '../helpers/local-nodes.ts'
import { eventually } from '../helpers/sync-nodes.ts'

describe('another program writing to local.db', () => {
  it('every row the daemon writes lands while another process commits in a tight loop', async () => {
    const node = await localNode('a', { pollMs: 20 })
    const writer = runTs('test/helpers/sqlite-writer.ts', [node.sql.name, '4000'])
    const exited = new Promise((resolve) => writer.once('exit', resolve))
    await waitForLine(writer, (line) => line === 'writing')
    const count = 300
    for (let i = 0; i < count; i++) {
      await node.node.store.create({
        type: 'person',
        fields: { firstName: `P${i}`, lastName: 'Loop' },
      })
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const rows = () =>
      (
        node.sql.prepare("SELECT count(*) AS n FROM persons WHERE last_name = 'Loop'").get() as {
          n: number
        }
      ).n
    // Well before housekeeping (24 h): within seconds of the other program's last commit.
    await eventually(() => rows() === count, 15_000).catch(() => {})
    expect(rows()).toBe(count)
    await exited
  }, 30_000)
})

describe('a write the local system refuses for a while', () => {
  it('is tried again within seconds, not at housekeeping', async () => {
    const node = await localNode('a')
    node.sql.exec(
      "CREATE TRIGGER refuse BEFORE INSERT ON persons BEGIN SELECT RAISE(ABORT, 'maintenance'); END",
    )
    const person = await node.node.store.create({
      type: 'person',
      fields: { firstName: 'Rita', lastName: 'Retry' },
    })
    const row = () => node.sql.prepare('SELECT first_name FROM persons WHERE id = ?').get(person.id)
    await node.local.settled()
    expect(row()).toBeUndefined()
    node.sql.exec('DROP TRIGGER refuse')
    await eventually(() => row() !== undefined, 5000)
    expect(row()).toEqual({ first_name: 'Rita' })
  })
})

describe('a table restored from a dump', () => {
  const restore = (node: LocalNode, alsoTheLog: boolean) =>
    node.sql.exec(`
      BEGIN;
      CREATE TABLE persons_dump AS SELECT * FROM persons;
      DROP TABLE persons;
      ${DEFAULT_SCHEMA.split(';').find((statement) => statement.includes('persons('))};
      INSERT INTO persons SELECT * FROM persons_dump;
      DROP TABLE persons_dump;
      ${alsoTheLog ? 'DROP TABLE _objectsync_changes;' : ''}
      UPDATE persons SET phone = '999' WHERE id = 'r1';
      COMMIT;`)
  const phone = async (node: LocalNode) =>
    (await node.node.store.list('person', {})).items[0]?.fields.phone

  it('a compare cut short (a stop or crash) is finished at the next start', async () => {
    const node = await localNode('a')
    node.sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('r1', 'Dora', 'Dump')")
      .run()
    await node.local.settled()
    await node.local.stop()
    // An edit the capture missed (made while its trigger was gone, which is back now),
    // and the compare that was to find it noted but not done.
    node.sql.exec(`
      DROP TRIGGER "_objectsync_persons_update";
      UPDATE persons SET phone = '1000' WHERE id = 'r1';`)
    await node.node.store.updateSyncState([['local/compare-needed', new TextEncoder().encode('1')]])
    // The trigger back as the daemon makes it, so that nothing but the note says so.
    const sqlOfTrigger = node.sql
      .prepare("SELECT sql FROM sqlite_master WHERE name = '_objectsync_persons_insert'")
      .pluck()
      .get() as string
    node.sql.exec(
      sqlOfTrigger
        .replaceAll('_objectsync_persons_insert', '_objectsync_persons_update')
        .replace('AFTER INSERT', 'AFTER UPDATE'),
    )
    await node.restart()
    await eventually(async () => (await phone(node)) === '1000', 5000)
    expect(await node.node.store.getSyncState('local/compare-needed')).toBeUndefined()
  })

  for (const alsoTheLog of [false, true]) {
    it(`while the daemon is stopped: its capture is back at start, and nothing is missed${alsoTheLog ? ' (the change log dropped too)' : ''}`, async () => {
      const node = await localNode('a')
      node.sql
        .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('r1', 'Dora', 'Dump')")
        .run()
      await node.local.settled()
      // Enough changes that the old log's sequence is well ahead of a new one's.
      for (let i = 0; i < 5; i++) {
        node.sql.prepare('UPDATE persons SET title = ? WHERE id = ?').run(`t${i}`, 'r1')
        await node.local.settled()
      }
      await node.local.stop()
      restore(node, alsoTheLog)
      await node.restart()
      await eventually(async () => (await phone(node)) === '999', 5000)
      node.sql.prepare("UPDATE persons SET phone = '1000' WHERE id = 'r1'").run()
      await eventually(async () => (await phone(node)) === '1000', 5000)
    })

    it(`gets its change capture back, and what changed meanwhile is taken in${alsoTheLog ? ' (the change log dropped too)' : ''}`, async () => {
      const node = await localNode('a')
      node.sql
        .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('r1', 'Dora', 'Dump')")
        .run()
      await node.local.settled()
      restore(node, alsoTheLog)
      await eventually(async () => (await phone(node)) === '999', 5000)
      // And the next edit is logged as any other.
      node.sql.prepare("UPDATE persons SET phone = '1000' WHERE id = 'r1'").run()
      await eventually(async () => (await phone(node)) === '1000', 5000)
      expect((await node.node.store.list('person', {})).items).toHaveLength(1)
    })
  }
})
