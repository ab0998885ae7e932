// The PostgreSQL connector beyond the conformance suite (connector.test.ts), on a real
// server: the order of the change log under concurrent transactions, its own writes left
// out of the log, changes made while the daemon was stopped or by a restore from a dump,
// the wake-up at commit, and a server that goes away and comes back.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import {
  PostgresConnector,
  createPostgresSchema,
  defaultEntity,
  mappingFromConfig,
  redactedUrl,
  type LocalChange,
} from '../../src/local/index.ts'
import { newObjectId } from '../../src/model/index.ts'
import { triggerName } from '../../src/local/postgres-change-capture.ts'
import { clientConfig } from '../../src/local/postgres-schema.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'

const persons = defaultEntity('person')
const entities = [persons, defaultEntity('organization')]

let server: TestPostgres
beforeAll(async () => {
  server = await startPostgres()
}, 60_000)
afterAll(() => server?.stop())

/** A database with the default schema, the connector on it, and another program's client. */
async function database() {
  const url = await server.createDatabase()
  await createPostgresSchema(url)
  const other = new pg.Client({ connectionString: url })
  await other.connect()
  const connector = new PostgresConnector(url)
  const insert = (client: pg.ClientBase, id: string, first = 'Anna') =>
    client.query('INSERT INTO persons(id, first_name, last_name) VALUES ($1, $2, $3)', [
      id,
      first,
      'Berg',
    ])
  return { url, other, connector, insert }
}

const keys = (changes: LocalChange[]) => changes.map((change) => change.key)

describe('the PostgreSQL connector', () => {
  it('never skips a change committed after a later-numbered one was read', async () => {
    const { url, other, connector, insert } = await database()
    await connector.open(entities)
    // T2 logs a change (numbered first) and stays open; T1 logs one and commits.
    const t2 = new pg.Client({ connectionString: url })
    await t2.connect()
    await t2.query('BEGIN')
    await insert(t2, 'second')
    await other.query('BEGIN')
    await insert(other, 'first')
    await other.query('COMMIT')
    const before = await connector.changesSince(0)
    // T2's change is not visible yet. A cursor on the log's own numbers would now stand
    // past T2's entry, and never read it.
    expect(keys(before)).toEqual(['first'])
    const cursor = before[0]!.seq
    await connector.acknowledge(cursor)
    await t2.query('COMMIT')
    expect(keys(await connector.changesSince(cursor))).toEqual(['second'])
    await t2.end()
    await other.end()
    await connector.close()
  })

  it('reads a change at once while another transaction stays open', async () => {
    const { url, other, connector, insert } = await database()
    await connector.open(entities)
    const open = new pg.Client({ connectionString: url })
    await open.connect()
    await open.query('BEGIN')
    await insert(open, 'pending')
    await insert(other, 'committed')
    expect(keys(await connector.changesSince(0))).toEqual(['committed'])
    await open.query('COMMIT')
    expect(keys(await connector.changesSince(0))).toEqual(['committed', 'pending'])
    await open.end()
    await other.end()
    await connector.close()
  })

  it("leaves its own writes out of the log and keeps others' changes, with their time", async () => {
    const { other, connector, insert } = await database()
    await connector.open(entities)
    const at = Date.now()
    await insert(other, 'theirs')
    const row = { first_name: 'Ours', last_name: 'Daemon' }
    const written = await connector.writeMany(persons, [
      { key: 'ours', row, custom: { level: 'gold' }, unchanged: (now) => now.row === undefined },
    ])
    expect(written[0]).toMatchObject({ row: { id: 'ours', ...row }, custom: { level: 'gold' } })
    const changes = await connector.changesSince(0)
    expect(keys(changes)).toEqual(['theirs'])
    expect(changes[0]!.at).toBeGreaterThanOrEqual(at - 1000)
    expect(changes[0]!.at).toBeLessThanOrEqual(Date.now() + 1000)
    await other.end()
    await connector.close()
  })

  it('catches changes made while the daemon was stopped, and after a restore from a dump', async () => {
    const { other, connector, insert } = await database()
    await connector.open(entities)
    await connector.close()
    await insert(other, 'offline')
    await connector.open(entities)
    expect(keys(await connector.changesSince(0))).toEqual(['offline'])
    const cursor = (await connector.changesSince(0))[0]!.seq
    await connector.acknowledge(cursor)
    // A restore: the table dropped and made again takes its trigger with it.
    await other.query('DROP TABLE persons')
    await other.query(
      'CREATE TABLE persons(id TEXT PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL, email TEXT, phone TEXT, birthday TEXT, title TEXT, organization_id TEXT, role TEXT, favourite INTEGER NOT NULL DEFAULT 0, archived INTEGER NOT NULL DEFAULT 0)',
    )
    await insert(other, 'restored')
    expect(await connector.repairChangeCapture(cursor)).toBe('triggers')
    expect(await connector.repairChangeCapture(cursor)).toBe('intact')
    await insert(other, 'after-repair')
    expect(keys(await connector.changesSince(cursor))).toEqual(['after-repair'])
    // The log itself made anew (its positions start over): the caller compares everything.
    await other.query('DROP TABLE _objectsync_changes, _objectsync_claimed')
    expect(await connector.repairChangeCapture(cursor)).toBe('log')
    await other.end()
    await connector.close()
  })

  it('notices triggers lost and tables emptied while it was stopped, and TRUNCATE while it runs', async () => {
    const { other, connector, insert } = await database()
    await connector.open(entities)
    await connector.close()
    await other.query('DROP TABLE persons')
    await other.query(
      'CREATE TABLE persons(id TEXT PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL, email TEXT, phone TEXT, birthday TEXT, title TEXT, organization_id TEXT, role TEXT, favourite INTEGER NOT NULL DEFAULT 0, archived INTEGER NOT NULL DEFAULT 0)',
    )
    await insert(other, 'restored-offline')
    await connector.open(entities)
    expect(await connector.repairChangeCapture(0)).toBe('triggers')
    expect(await connector.repairChangeCapture(0)).toBe('intact')
    await other.query('TRUNCATE organizations')
    expect(await connector.repairChangeCapture(0)).toBe('triggers')
    expect(await connector.repairChangeCapture(0)).toBe('intact')
    await connector.close()
    await other.query('TRUNCATE persons')
    await connector.open(entities)
    expect(await connector.repairChangeCapture(0)).toBe('triggers')
    await other.end()
    await connector.close()
  })

  it("logs the writes of another role with another search_path, and of replication's sessions", async () => {
    const { url, other, connector } = await database()
    await connector.open(entities)
    await other.query(
      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm') THEN CREATE ROLE crm LOGIN; END IF; END $$",
    )
    await other.query('GRANT SELECT, INSERT, UPDATE, DELETE ON persons TO crm')
    await other.query('CREATE SCHEMA IF NOT EXISTS crm_private AUTHORIZATION crm')
    const crm = new pg.Client({ connectionString: url.replace('postgres@', 'crm@') })
    await crm.connect()
    await crm.query('SET search_path = crm_private, public')
    // The CRM's role has no right on the log: the trigger writes it as the daemon's.
    await crm.query("INSERT INTO persons(id, first_name, last_name) VALUES ('by-crm', 'C', 'R')")
    await crm.end()
    await other.query('SET session_replication_role = replica')
    await other.query(
      "INSERT INTO persons(id, first_name, last_name) VALUES ('replicated', 'R', 'E')",
    )
    await other.query('SET session_replication_role = origin')
    expect(keys(await connector.changesSince(0))).toEqual(['by-crm', 'replicated'])
    await other.end()
    await connector.close()
  })

  it('reads values as the mapping expects them, whatever the server defaults', async () => {
    const { url, other } = await database()
    await other.query('ALTER DATABASE ' + url.split('/').pop() + " SET DateStyle = 'SQL, DMY'")
    const client = new pg.Client(clientConfig(url))
    await client.connect()
    const { rows } = await client.query(
      `SELECT true AS yes, 5::int8 AS small, 9007199254740993::int8 AS big, 2.5::float8 AS ratio,
              12.50::numeric AS amount, '2024-03-01'::date AS day, '{"a":1}'::jsonb AS doc,
              ARRAY[1,2] AS list, '\\x0102'::bytea AS bytes`,
    )
    expect(rows[0]).toEqual({
      yes: 1,
      small: 5,
      big: 9007199254740993n,
      ratio: 2.5,
      amount: '12.50',
      day: '2024-03-01',
      doc: '{"a": 1}',
      list: '{1,2}',
      bytes: Buffer.from([1, 2]),
    })
    await client.end()
    await other.end()
  })

  it('names triggers within 63 bytes, apart for long table names that start alike', () => {
    const long = 'a_table_name_long_enough_to_pass_the_limit_of_names_'
    const [first, second] = [triggerName(`${long}one`), triggerName(`${long}two`)]
    expect(Buffer.byteLength(first)).toBeLessThanOrEqual(63)
    expect(first).not.toBe(second)
    expect(triggerName('persons')).toBe('_objectsync_log_persons')
  })

  it('wakes its listener when another program commits', async () => {
    const { other, connector, insert } = await database()
    await connector.open(entities)
    const woken = vi.fn()
    const stop = connector.onChanges(woken)
    await other.query('BEGIN')
    await insert(other, 'notified')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(woken).not.toHaveBeenCalled() // not before the commit
    await other.query('COMMIT')
    await vi.waitFor(() => expect(woken).toHaveBeenCalled())
    stop()
    await other.end()
    await connector.close()
  })

  it('says which server failed while it is away, and works again once it is back', async () => {
    const { url, connector, insert, other: first } = await database()
    await first.end() // a client of the test's own would see the server go too
    await connector.open(entities)
    const woken = vi.fn()
    connector.onChanges(woken)
    server.halt()
    try {
      const error: unknown = await connector.changesSince(0).catch((failure: unknown) => failure)
      expect(isObjectSyncError(error, 'LOCAL_SYSTEM_IO')).toBe(true)
      expect((error as Error).message).toContain(`127.0.0.1:${server.port}`)
    } finally {
      server.resume()
    }
    await vi.waitFor(async () => expect(await connector.changesSince(0)).toEqual([]), {
      timeout: 10_000,
      interval: 200,
    })
    // The LISTEN connection comes back too: a commit wakes the listener again.
    const other = new pg.Client({ connectionString: url })
    await other.connect()
    woken.mockClear()
    await vi.waitFor(
      async () => {
        await insert(other, `back-${Date.now()}-${Math.random()}`)
        expect(woken).toHaveBeenCalled()
      },
      { timeout: 10_000, interval: 500 },
    )
    await other.end()
    await connector.close()
  })

  it('reads many records at once as it reads them one by one (the change log a batch at a time)', async () => {
    const { other, connector, insert } = await database()
    await connector.open(entities)
    await insert(other, 'm1')
    await connector.write(persons, 'm2', { first_name: 'Ole', last_name: 'Dahl' }, { tier: 'a' })
    const many = await connector.readMany(persons, ['m1', 'm2', 'gone'])
    for (const key of ['m1', 'm2', 'gone']) {
      expect(many.get(key)).toEqual({
        row: await connector.read(persons, key),
        custom: await connector.readCustom(key),
      })
    }
    expect(many.get('m2')?.custom).toEqual({ tier: 'a' })
    expect(many.get('gone')).toEqual({ row: undefined, custom: {} })
    await other.end()
    await connector.close()
  })

  it('leaves its inserts with keys the database gives out of the log, and refuses a key it could not give', async () => {
    const { other, connector } = await database()
    await other.query(
      'CREATE TABLE accounts(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, first text, last text)',
    )
    const accounts = mappingFromConfig({
      person: { table: 'accounts', key: 'id', fields: { firstName: 'first', lastName: 'last' } },
    }).get('person')!
    await connector.open([accounts])
    const id = newObjectId()
    const [written] = await connector.writeMany(accounts, [
      {
        key: id,
        row: { first: 'Ada', last: 'Lovelace' },
        unchanged: (now) => now.row === undefined,
      },
    ])
    expect(written).toMatchObject({ row: { id: expect.any(Number), first: 'Ada' } })
    expect(await connector.changesSince(0)).toEqual([])
    // A row written back under its own key (a record a peer keeps, deleted here) overrides
    // the identity PostgreSQL would otherwise insist on giving.
    await connector.write(accounts, '99', { first: 'Kai', last: 'Holm' })
    expect(await connector.read(accounts, '99')).toMatchObject({ id: 99, first: 'Kai' })
    const logged = await connector.changesSince(0)
    await connector.acknowledge(logged[logged.length - 1]!.seq)
    await other.query("INSERT INTO accounts(first, last) VALUES ('Ole', 'Dahl')")
    expect((await connector.changesSince(0)).map((change) => change.table)).toEqual(['accounts'])
    await connector.close()
    // An integer key with no default: the daemon's new rows could have no key.
    await other.query('CREATE TABLE members(id integer PRIMARY KEY, first text, last text)')
    const members = mappingFromConfig({
      person: { table: 'members', key: 'id', fields: { firstName: 'first', lastName: 'last' } },
    }).get('person')!
    const refused: unknown = await connector.open([members]).catch((error: unknown) => error)
    expect(isObjectSyncError(refused, 'LOCAL_SYSTEM_IO')).toBe(true)
    expect((refused as Error).message).toContain(
      'members.id is integer with no default, so the rows objectsync inserts could have no key',
    )
    await other.end()
  })

  it('keeps a password out of what it shows', () => {
    expect(redactedUrl('postgres://crm:secret@db.example.org:5432/donors')).toBe(
      'postgres://crm:***@db.example.org:5432/donors',
    )
    expect(new PostgresConnector('postgres://crm:secret@db/x').description).not.toContain('secret')
  })
})
