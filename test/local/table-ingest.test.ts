// A table already full when the daemon starts is taken in page by page (TableIngest): the
// next page is read and sorted while one page's objects are made (their facets encoded on
// the store's worker thread) and committed, in order. Each row once, bad rows reported,
// and a page that fails fails the whole read, after every page has ended, and the first run
// again at the next poll.
import { describe, expect, it } from 'vitest'
import type { Connector } from '../../src/local/index.ts'
import type { ObjectStore, StoredObject } from '../../src/store/index.ts'
import { localNode } from '../helpers/local-nodes.ts'
import { eventually } from '../helpers/sync-nodes.ts'

const ROWS = 1_600 // four pages of 500 and more

/** Rows the local system had before the daemon: one bad birthday, one without a key. */
const BEFORE = `
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
  INSERT INTO persons(id, first_name, last_name, email, birthday)
    SELECT printf('p%04d', i), 'Anna ' || i, 'Larsen', printf('anna%d@example.org', i),
      CASE WHEN i = 777 THEN 'soon' ELSE '1980-01-02' END
    FROM n;
  INSERT INTO persons(id, first_name, last_name) VALUES (NULL, 'No', 'Key');`

async function allPersons(store: ObjectStore): Promise<StoredObject[]> {
  const all: StoredObject[] = []
  let after: string | undefined
  do {
    const page = await store.list('person', {
      limit: 500,
      ...(after === undefined ? {} : { after }),
    })
    all.push(...page.items)
    after = page.next
  } while (after !== undefined)
  return all
}

describe('taking in a full table at start', () => {
  it('makes each row an object once, in pages, and reports the bad ones', async () => {
    const { node, local, restart } = await localNode('a', { before: BEFORE, pollMs: 60_000 })
    const made = await allPersons(node.store)
    expect(made).toHaveLength(ROWS - 1)
    expect(new Set(made.map((person) => person.fields.email)).size).toBe(ROWS - 1)
    expect(made.some((person) => person.fields.email === 'anna777@example.org')).toBe(false)
    const bad = local.badRows().map(({ key, problem }) => ({ key, problem }))
    expect(bad).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'p0777', problem: expect.stringMatching(/birthday/) }),
        expect.objectContaining({ key: '(no key)' }),
      ]),
    )
    // Linked as they were made: a restart reads them as last seen and makes none again.
    await restart()
    expect(await allPersons(node.store)).toHaveLength(ROWS - 1)
  })

  it('a page that fails ends the read after every page has ended; the next poll takes the rest in', async () => {
    let failing = true
    let calls = 0
    const { node, local, sql } = await localNode('b', {
      before: BEFORE,
      pollMs: 60_000,
      wrapConnector: (connector: Connector) => {
        // Asked once a page, for the rows it has no link for (organizations first, with
        // none): from the second page of persons on, it fails until the disk is back.
        const objectsOfKeys = async (
          ...args: Parameters<NonNullable<Connector['objectsOfKeys']>>
        ) => {
          if (failing && ++calls >= 3) throw new Error('the disk is gone')
          return connector.objectsOfKeys!(...args)
        }
        return new Proxy(connector, {
          get: (target, name) => {
            if (name === 'objectsOfKeys') return objectsOfKeys
            const value: unknown = Reflect.get(target, name)
            return typeof value === 'function' ? (value as () => unknown).bind(target) : value
          },
        })
      },
    })
    // The page before the failed ones is taken in, each row once; the read stopped at the
    // first failure, and the poll run at start failed again.
    const first = await allPersons(node.store)
    expect(first).toHaveLength(500)
    const emails = new Set(first.map((person) => person.fields.email))
    expect(emails.size).toBe(500)
    expect(emails.has('anna1@example.org')).toBe(true)
    expect(emails.has('anna600@example.org')).toBe(false)
    // Meanwhile the change log is still read: an edit of a row taken in arrives.
    sql.prepare("UPDATE persons SET title = 'Treasurer' WHERE id = 'p0001'").run()
    // And nothing is written into the local system before every row has been read (it
    // could be one of the rows not read yet): an object made here waits for its row.
    const made = await node.store.create({
      type: 'person',
      fields: { firstName: 'Made', lastName: 'Here' },
    })
    await local.settled()
    const edited = first.find((person) => person.fields.email === 'anna1@example.org')!
    expect((await node.store.get(edited.id))?.fields.title).toBe('Treasurer')
    const rowOf = () => sql.prepare("SELECT id FROM persons WHERE first_name = 'Made'").all()
    expect(rowOf()).toEqual([])
    failing = false
    // The first run is not marked done: a poll runs it again within seconds (backing off
    // while it fails; the rows taken in already are skipped as seen), not housekeeping a
    // day later.
    await eventually(async () => {
      await local.settled()
      return (await node.store.count('person')) === ROWS - 1 + 1
    }, 10_000)
    // Then the object made here is written.
    await eventually(async () => {
      await local.settled()
      return rowOf().length === 1
    }, 5_000)
    expect(made.id).toBeDefined()
    const all = (await allPersons(node.store)).filter((person) => person.id !== made.id)
    expect(all).toHaveLength(ROWS - 1)
    expect(new Set(all.map((person) => person.fields.email)).size).toBe(ROWS - 1)
  })
})
