// The connector conformance suite, on the memory connector, on SQLite and on a real
// PostgreSQL server (with "other programs" writing through a separate connection).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  GROUP_MEMBERS,
  MemoryConnector,
  PostgresConnector,
  SqliteConnector,
  createLocalDatabase,
  createPostgresSchema,
  defaultEntity,
  mappingFromConfig,
  type LocalRow,
  type ReadRecord,
} from '../../src/local/index.ts'
import { newObjectId } from '../../src/model/index.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'
import { folderHarness, googleCsvHarness, type Harness } from '../helpers/connector-harness.ts'

const persons = defaultEntity('person')
const entities = [persons, defaultEntity('organization')]

/** An upsert of a row keyed by `id`, in SQL both SQLite and PostgreSQL take. */
function upsertSql(table: string, row: LocalRow, placeholder: (index: number) => string): string {
  const columns = ['id', ...Object.keys(row)]
  return `INSERT INTO ${table}(${columns.join(', ')}) VALUES (${columns.map((_, i) => placeholder(i + 1)).join(', ')})
    ON CONFLICT(id) DO UPDATE SET ${Object.keys(row)
      .map((column) => `${column} = excluded.${column}`)
      .join(', ')}`
}

const folders: string[] = []
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

function memoryHarness(): Harness {
  const connector = new MemoryConnector()
  /** The other program's sequence per table (it shares none with the connector's). */
  const given = new Map<string, number>()
  return {
    connector,
    edit: (key, row) =>
      connector.edit('persons', key, row === undefined ? undefined : { id: key, ...row }),
    editGroup: (key, group, member) =>
      void connector.changeGroups(key, member ? { join: [group] } : { leave: [group] }),
    createTable: (table, _columns, key) => {
      if (key === 'given') connector.givesKeys(table)
    },
    upsert: (table, key, row) => connector.edit(table, key, { id: key, ...row }),
    insertGiven: (table, row) => {
      given.set(table, (given.get(table) ?? 0) + 1)
      const key = String(given.get(table))
      connector.edit(table, key, { id: key, ...row })
      return key
    },
    deleteRow: (table, key) => connector.edit(table, key, undefined),
    cleanup: () => {},
  }
}

/** The SQLite harness's other program writes synchronously. */
interface SqliteHarness extends Harness {
  path: string
  edit: (key: string, row: LocalRow | undefined) => void
  editGroup: (key: string, group: string, member: boolean) => void
  upsert: (table: string, key: string, row: LocalRow) => void
  cleanup: () => void
}

function sqliteHarness(): SqliteHarness {
  const folder = mkdtempSync(join(tmpdir(), 'objectsync-local-'))
  folders.push(folder)
  const path = join(folder, 'local.db')
  createLocalDatabase(path)
  const other = new Database(path)
  other.pragma('busy_timeout = 5000')
  return {
    path,
    connector: new SqliteConnector(path),
    edit: (key, row) => {
      if (row === undefined) other.prepare('DELETE FROM persons WHERE id = ?').run(key)
      else
        other
          .prepare(
            'INSERT INTO persons(id, first_name, last_name, email) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email',
          )
          .run(key, row.first_name, row.last_name, row.email ?? null)
    },
    editGroup: (key, group, member) => {
      if (member) other.prepare('INSERT INTO group_members VALUES (?, ?)').run(group, key)
      else
        other
          .prepare('DELETE FROM group_members WHERE group_name = ? AND object_id = ?')
          .run(group, key)
    },
    createTable: (table, columns, key) =>
      void other.exec(
        `CREATE TABLE ${table}(id ${key === 'given' ? 'INTEGER' : 'TEXT'} PRIMARY KEY, ${columns})`,
      ),
    upsert: (table, key, row) =>
      void other.prepare(upsertSql(table, row, () => '?')).run(key, ...Object.values(row)),
    insertGiven: (table, row) =>
      String(
        other
          .prepare(
            `INSERT INTO ${table}(${Object.keys(row).join(', ')}) VALUES (${Object.keys(row)
              .map(() => '?')
              .join(', ')})`,
          )
          .run(...Object.values(row)).lastInsertRowid,
      ),
    deleteRow: (table, key) => void other.prepare(`DELETE FROM ${table} WHERE id = ?`).run(key),
    cleanup: () => void other.close(),
  }
}

let server: TestPostgres | undefined
afterAll(() => server?.stop())

async function postgresHarness(): Promise<Harness> {
  server ??= await startPostgres()
  const url = await server.createDatabase()
  await createPostgresSchema(url)
  const other = new pg.Client({ connectionString: url })
  await other.connect()
  return {
    connector: new PostgresConnector(url),
    edit: async (key, row) => {
      if (row === undefined) await other.query('DELETE FROM persons WHERE id = $1', [key])
      else
        await other.query(
          'INSERT INTO persons(id, first_name, last_name, email) VALUES ($1, $2, $3, $4) ON CONFLICT(id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email',
          [key, row.first_name, row.last_name, row.email ?? null],
        )
    },
    editGroup: async (key, group, member) => {
      if (member) await other.query('INSERT INTO group_members VALUES ($1, $2)', [group, key])
      else
        await other.query('DELETE FROM group_members WHERE group_name = $1 AND object_id = $2', [
          group,
          key,
        ])
    },
    createTable: async (table, columns, key) =>
      void (await other.query(
        `CREATE TABLE ${table}(id ${key === 'given' ? 'integer GENERATED BY DEFAULT AS IDENTITY' : 'text'} PRIMARY KEY, ${columns})`,
      )),
    upsert: async (table, key, row) =>
      void (await other.query(
        upsertSql(table, row, (i) => `$${i}`),
        [key, ...Object.values(row)],
      )),
    insertGiven: async (table, row) => {
      const columns = Object.keys(row)
      const { rows } = await other.query<{ id: number }>(
        `INSERT INTO ${table}(${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`,
        Object.values(row),
      )
      return String(rows[0]!.id)
    },
    deleteRow: async (table, key) =>
      void (await other.query(`DELETE FROM ${table} WHERE id = $1`, [key])),
    cleanup: () => other.end(),
  }
}

for (const [name, make] of [
  ['memory', memoryHarness],
  ['sqlite', sqliteHarness],
  ['postgres', postgresHarness],
  ['vCard folder', () => folderHarness(folders)],
  ['Google Contacts CSV folder', () => googleCsvHarness(folders)],
] as const) {
  // A folder has no group membership without contacts, no tables of its own.
  const notFolder = it.skipIf(name.endsWith('folder'))
  describe(`connector conformance: ${name}`, () => {
    it('reports inserts, updates and deletes made by others, in order, until acknowledged', async () => {
      const { connector, edit, cleanup } = await make()
      await connector.open(entities)
      await edit('p1', { first_name: 'Anna', last_name: 'Berg' })
      await edit('p2', { first_name: 'Ole', last_name: 'Dahl' })
      // A poll in between: a folder sees the files as they are, not each write to them.
      await connector.changesSince(0)
      await edit('p1', { first_name: 'Anne', last_name: 'Berg' })
      await edit('p2', undefined)
      const changes = await connector.changesSince(0)
      expect(
        changes.filter((change) => change.table === 'persons').map((change) => change.key),
      ).toEqual(expect.arrayContaining(['p1', 'p2']))
      expect(changes.map((change) => change.seq)).toEqual(
        [...changes.map((change) => change.seq)].sort((a, b) => a - b),
      )
      expect((await connector.read(persons, 'p1'))?.first_name).toBe('Anne')
      expect(await connector.read(persons, 'p2')).toBeUndefined()
      const last = changes[changes.length - 1]!.seq
      expect(await connector.changesSince(last)).toEqual([])
      await connector.acknowledge(last)
      expect(await connector.changesSince(0)).toEqual([])
      await edit('p3', { first_name: 'Nora', last_name: 'Lie' })
      expect((await connector.changesSince(0)).map((change) => change.key)).toEqual(['p3'])
      await connector.close()
      await cleanup()
    })

    notFolder(
      'reads group membership, reports its changes, and joins and leaves groups',
      async () => {
        const { connector, editGroup, cleanup } = await make()
        await connector.open(entities)
        await editGroup('p1', 'Partners', true)
        await editGroup('p1', 'Board', true)
        await editGroup('p2', 'Partners', true)
        const changes = await connector.changesSince(0)
        expect(new Set(changes.map((change) => `${change.table}/${change.key}`))).toEqual(
          new Set([`${GROUP_MEMBERS}/p1`, `${GROUP_MEMBERS}/p2`]),
        )
        expect(await connector.groupsOf('p1')).toEqual(['Board', 'Partners'])
        const all: string[] = []
        for await (const { group, key } of connector.groupMembers()) all.push(`${key}:${group}`)
        expect(all.sort()).toEqual(['p1:Board', 'p1:Partners', 'p2:Partners'])
        await connector.changeGroups('p1', { leave: ['Board'], join: ['Volunteers'] })
        await connector.changeGroups('p1', { join: ['Volunteers'] }) // idempotent
        expect(await connector.groupsOf('p1')).toEqual(['Partners', 'Volunteers'])
        await editGroup('p2', 'Partners', false)
        expect(await connector.groupsOf('p2')).toEqual([])
        expect(await connector.groupsOf('nobody')).toEqual([])
        await connector.close()
        await cleanup()
      },
    )

    it('writes idempotently, with custom fields, and reads back what it wrote', async () => {
      const { connector, cleanup } = await make()
      await connector.open(entities)
      const row = { first_name: 'Anna', last_name: 'Berg', email: 'anna@example.org' }
      await connector.write(persons, 'k1', row, { level: 'gold' })
      await connector.write(persons, 'k1', row, { level: 'gold' })
      expect(await connector.read(persons, 'k1')).toMatchObject({ id: 'k1', ...row })
      expect(await connector.readCustom('k1')).toEqual({ level: 'gold' })
      await connector.write(persons, 'k1', { ...row, email: null }, {})
      expect((await connector.read(persons, 'k1'))?.email).toBeNull()
      expect(await connector.readCustom('k1')).toEqual({})
      const all: LocalRow[] = []
      for await (const each of connector.readAll(persons)) all.push(each)
      expect(all.map((each) => each.id)).toEqual(['k1'])
      await connector.remove(persons, 'k1')
      expect(await connector.read(persons, 'k1')).toBeUndefined()
      await connector.close()
      await cleanup()
    })

    it('writes many rows at once, each only where it still reads as the caller decided', async () => {
      const { connector, edit, cleanup } = await make()
      await connector.open(entities)
      await edit('taken', { first_name: 'Someone', last_name: 'Else' })
      const row = { first_name: 'Anna', last_name: 'Berg', email: 'anna@example.org' }
      const absent = (now: { row: LocalRow | undefined }) => now.row === undefined
      const results = await connector.writeMany(persons, [
        { key: 'n1', row, custom: { level: 'gold' }, unchanged: absent },
        { key: 'taken', row, unchanged: absent },
        { key: 'n2', row: { ...row, first_name: 'Ole' }, unchanged: absent },
      ])
      expect(results[0]).toMatchObject({ row: { id: 'n1', ...row }, custom: { level: 'gold' } })
      expect(results[1]).toBe('changed')
      expect(results[2]).toMatchObject({ row: { id: 'n2', first_name: 'Ole' } })
      // Nothing written where the record was not as decided.
      expect(await connector.read(persons, 'taken')).toMatchObject({ first_name: 'Someone' })
      expect(await connector.read(persons, 'n1')).toMatchObject(row)
      expect(await connector.readCustom('n1')).toEqual({ level: 'gold' })
      await connector.close()
      await cleanup()
    })

    notFolder('keeps apart the entities of one table by their row filters', async () => {
      const { connector, createTable, upsert, cleanup } = await make()
      await createTable(
        'partners',
        'name TEXT, firstname TEXT, lastname TEXT, is_company BOOLEAN NOT NULL DEFAULT false',
        'text',
      )
      const mapping = mappingFromConfig({
        person: {
          table: 'partners',
          key: 'id',
          where: { is_company: false },
          fields: { firstName: 'firstname', lastName: 'lastname' },
        },
        organization: {
          table: 'partners',
          key: 'id',
          where: { is_company: true },
          fields: { name: 'name' },
        },
      })
      const [person, company] = [mapping.get('person')!, mapping.get('organization')!]
      await connector.open([person, company])
      await upsert('partners', 'c1', { name: 'Acme', is_company: 1 })
      await upsert('partners', 'p1', { firstname: 'Ada', lastname: 'Lovelace', is_company: 0 })
      // One change per row changed, not one per entity of its table.
      const changes = await connector.changesSince(0)
      expect(changes.map((change) => `${change.table}/${change.key}`)).toEqual([
        'partners/c1',
        'partners/p1',
      ])
      expect(await connector.read(person, 'p1')).toMatchObject({ firstname: 'Ada' })
      expect(await connector.read(person, 'c1')).toBeUndefined()
      expect(await connector.read(company, 'c1')).toMatchObject({ name: 'Acme', is_company: 1 })
      expect(await connector.read(company, 'p1')).toBeUndefined()
      const keysOf = async (entity: typeof person) => {
        const keys: unknown[] = []
        for await (const row of connector.readAll(entity)) keys.push(row.id)
        return keys
      }
      expect(await keysOf(person)).toEqual(['p1'])
      expect(await keysOf(company)).toEqual(['c1'])
      // A row the daemon inserts is the entity's: it gets the filter's values.
      const absent = (now: { row: LocalRow | undefined }) => now.row === undefined
      const [written] = await connector.writeMany(person, [
        { key: 'n1', row: { firstname: 'Nora', lastname: 'Lie' }, unchanged: absent },
      ])
      expect(written).toMatchObject({ row: { id: 'n1', firstname: 'Nora', is_company: 0 } })
      expect(await connector.read(company, 'n1')).toBeUndefined()
      expect(await keysOf(person)).toEqual(expect.arrayContaining(['p1', 'n1']))
      // Another entity's row is neither removed nor read as this one's.
      await connector.remove(person, 'c1')
      expect(await connector.read(company, 'c1')).toMatchObject({ name: 'Acme' })
      const many = await connector.readMany?.(company, ['c1', 'p1'])
      if (many !== undefined) {
        expect(many.get('c1')?.row).toMatchObject({ name: 'Acme' })
        expect(many.get('p1')?.row).toBeUndefined()
      }
      await connector.close()
      await cleanup()
    })

    notFolder(
      'inserts rows for objects with the keys the local system gives, and finds them by the object',
      async () => {
        const { connector, createTable, insertGiven, deleteRow, cleanup } = await make()
        await createTable('accounts', 'firstname TEXT, lastname TEXT', 'given')
        const person = mappingFromConfig({
          person: {
            table: 'accounts',
            key: 'id',
            fields: { firstName: 'firstname', lastName: 'lastname' },
          },
        }).get('person')!
        await connector.open([person])
        const ada = await insertGiven('accounts', { firstname: 'Ada', lastname: 'Lovelace' })
        const id = newObjectId()
        const absent = (now: { row: LocalRow | undefined }) => now.row === undefined
        const [written] = await connector.writeMany(person, [
          { key: id, row: { firstname: 'Nora', lastname: 'Lie' }, unchanged: absent },
        ])
        const given = String((written as ReadRecord).row!.id)
        expect(given).toMatch(/^\d+$/)
        expect(given).not.toBe(ada)
        // The same row asked for by its object's id and by its own key.
        expect(await connector.read(person, id)).toMatchObject({ firstname: 'Nora' })
        expect(await connector.read(person, given)).toMatchObject({ firstname: 'Nora' })
        expect(await connector.objectsOfKeys!(person, [given, ada])).toEqual(new Map([[given, id]]))
        // Written again by its object's id (a crash lost the link): that row, not a second.
        const [again] = await connector.writeMany(person, [
          {
            key: id,
            row: { firstname: 'Nora', lastname: 'Lien' },
            unchanged: (now) => now.row !== undefined,
          },
        ])
        expect((again as ReadRecord).row).toMatchObject({ lastname: 'Lien' })
        expect(String((again as ReadRecord).row!.id)).toBe(given)
        const all: unknown[] = []
        for await (const row of connector.readAll(person)) all.push(String(row.id))
        expect(all.sort()).toEqual([given, ada].sort())
        const many = await connector.readMany?.(person, [id, given, ada])
        if (many !== undefined) {
          expect(many.get(id)?.row).toMatchObject({ lastname: 'Lien' })
          expect(many.get(given)?.row).toMatchObject({ lastname: 'Lien' })
          expect(many.get(ada)?.row).toMatchObject({ firstname: 'Ada' })
        }
        // An object with no row reads as none; a removed row is forgotten.
        expect(await connector.read(person, newObjectId())).toBeUndefined()
        await connector.remove(person, id)
        expect(await connector.read(person, given)).toBeUndefined()
        expect(await connector.objectsOfKeys!(person, [given])).toEqual(new Map())
        expect(await connector.read(person, ada)).toMatchObject({ firstname: 'Ada' })
        // Deleted by another program: forgotten too (its key may be given to another row),
        // and written again for the object, a new row remembered as the object's.
        const other = newObjectId()
        const [otherRow] = await connector.writeMany(person, [
          { key: other, row: { firstname: 'Ole', lastname: 'Dahl' }, unchanged: absent },
        ])
        const otherKey = String((otherRow as ReadRecord).row!.id)
        await deleteRow('accounts', otherKey)
        expect(await connector.objectsOfKeys!(person, [otherKey])).toEqual(new Map())
        expect(await connector.read(person, other)).toBeUndefined()
        await connector.write(person, other, { firstname: 'Ole', lastname: 'Dahl' })
        const back = await connector.read(person, other)
        expect(back).toMatchObject({ firstname: 'Ole' })
        const backKey = String(back!.id)
        expect(await connector.objectsOfKeys!(person, [backKey])).toEqual(
          new Map([[backKey, other]]),
        )
        const names: unknown[] = []
        for await (const row of connector.readAll(person)) names.push(row.firstname)
        expect(names.sort()).toEqual(['Ada', 'Ole'])
        await connector.close()
        await cleanup()
      },
    )
  })
}

describe('the SQLite connector', () => {
  it("leaves its batch writes out of the change log, and keeps other programs' changes", async () => {
    const harness = sqliteHarness()
    const { connector } = harness
    await connector.open(entities)
    harness.edit('theirs', { first_name: 'Made', last_name: 'Elsewhere' })
    // A trigger of the organization's own: a person written touches an organization.
    const other = new Database(harness.path)
    other.exec(`
      INSERT INTO organizations(id, name) VALUES ('o1', 'Acme');
      CREATE TRIGGER count_members AFTER INSERT ON persons
        BEGIN UPDATE organizations SET category = 'has members' WHERE id = 'o1'; END;`)
    other.close()
    const row = { first_name: 'Anna', last_name: 'Berg' }
    await connector.writeMany(persons, [
      // Other programs' writes before and after the batch are logged; the batch's are not.
      { key: 'ours', row, unchanged: (now) => now.row === undefined },
      { key: 'ours2', row, unchanged: () => true },
    ])
    harness.edit('later', { first_name: 'Made', last_name: 'Later' })
    const logged = (await connector.changesSince(0)).map(
      (change) => `${change.table}/${change.key}`,
    )
    // The trigger's changes to the organization (logged by our write too) stay in the log.
    expect(logged.filter((entry) => entry.startsWith('persons/'))).toEqual([
      'persons/theirs',
      'persons/later',
    ])
    // Made (1), then touched by each of three persons written (the update logged twice).
    expect(logged.filter((entry) => entry === 'organizations/o1').length).toBe(7)
    expect(await connector.read(persons, 'ours2')).toMatchObject(row)
    await connector.close()
    harness.cleanup()
  })

  it('catches changes made while the daemon was stopped', async () => {
    const harness = sqliteHarness()
    await harness.connector.open(entities)
    await harness.connector.close()
    harness.edit('offline', { first_name: 'Made', last_name: 'Offline' })
    const again = new SqliteConnector(harness.path)
    await again.open(entities)
    expect((await again.changesSince(0)).map((change) => change.key)).toContain('offline')
    await again.close()
    harness.cleanup()
  })

  it('records when each row changed, also in a change log an earlier version made', async () => {
    const harness = sqliteHarness()
    // An earlier version's change log and trigger: no time column, a change waiting in it.
    const old = new Database(harness.path)
    old.exec(`
      CREATE TABLE _objectsync_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT,
        table_name TEXT NOT NULL, row_key TEXT NOT NULL);
      CREATE TRIGGER "_objectsync_persons_insert" AFTER INSERT ON persons
        BEGIN INSERT INTO _objectsync_changes(table_name, row_key) VALUES ('persons', NEW.id); END;`)
    old.close()
    harness.edit('before', { first_name: 'Logged', last_name: 'Untimed' })
    await harness.connector.open(entities)
    const started = Date.now()
    harness.edit('after', { first_name: 'Logged', last_name: 'Timed' })
    const changes = await harness.connector.changesSince(0)
    expect(changes.map((change) => change.key)).toEqual(['before', 'after'])
    expect(changes[0]!.at).toBeUndefined()
    expect(changes[1]!.at).toBeGreaterThanOrEqual(started - 5)
    expect(changes[1]!.at).toBeLessThanOrEqual(Date.now() + 5)
    await harness.connector.close()
    harness.cleanup()
  })

  it('has no groups in a file without group_members, and says so when asked to change one', async () => {
    const harness = sqliteHarness()
    const other = new Database(harness.path)
    other.exec('DROP TABLE group_members')
    other.close()
    await harness.connector.open(entities)
    expect(await harness.connector.groupsOf('p1')).toEqual([])
    await expect(
      harness.connector.changeGroups('p1', { join: ['Partners'] }),
    ).rejects.toMatchObject({
      code: 'LOCAL_SYSTEM_IO',
      message: expect.stringContaining('group_members'),
    })
    await harness.connector.close()
    harness.cleanup()
  })

  it('names the file when it cannot be opened, and writes nothing', async () => {
    const connector = new SqliteConnector('/nonexistent-dir/for/sure/local.db')
    await expect(connector.open(entities)).rejects.toMatchObject({
      code: 'LOCAL_SYSTEM_IO',
      message: expect.stringContaining('/nonexistent-dir/for/sure/local.db'),
    })
  })
})
