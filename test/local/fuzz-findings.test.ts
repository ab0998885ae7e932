// What the fuzzers found in the SQLite local system, each kept as a fixed case (the
// fuzzers draw new values every run, and would find a regression only by chance).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import {
  LocalSync,
  SqliteConnector,
  createLocalDatabase,
  mappingFromConfig,
} from '../../src/local/index.ts'
import { CHANGES_TABLE } from '../../src/local/sqlite-change-capture.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { MemoryStorage, ObjectStore } from '../../src/store/index.ts'

const SELF = 'instance-a' as InstanceId
const open: { local?: LocalSync; store?: ObjectStore; sql?: Database.Database }[] = []
afterEach(async () => {
  for (const { local, store, sql } of open.splice(0)) {
    await local?.stop()
    await store?.close()
    sql?.close()
  }
})

/** A store and a local.db with another program's connection; `start` runs a bridge on them. */
async function setUp() {
  const path = join(mkdtempSync(join(tmpdir(), 'objectsync-findings-')), 'local.db')
  createLocalDatabase(path)
  const sql = new Database(path)
  const store = new ObjectStore({ storage: new MemoryStorage(), instanceId: SELF })
  await store.open()
  open.push({ store, sql })
  const start = async (entities?: unknown) => {
    const local = new LocalSync({
      store,
      connector: new SqliteConnector(path),
      mapping: mappingFromConfig(entities),
      instanceId: SELF,
      pollMs: 60_000,
    })
    open.push({ local })
    await local.start()
    await local.settled()
    return local
  }
  return { sql, store, start }
}

const personsOf = async (store: ObjectStore) =>
  (await store.list('person', { includeDeleted: true })).items

describe('rows the fuzzers found mishandled', () => {
  it('a row keyed by bytes is a bad row, and no longer one once its key is text', async () => {
    const { sql, store, start } = await setUp()
    sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES (?, 'Anna', 'Blob')")
      .run(Buffer.from('k1'))
    const local = await start()
    expect(await personsOf(store)).toEqual([])
    expect(local.badRows()).toMatchObject([{ table: 'persons', key: "x'6b31'", column: 'id' }])
    sql.prepare("UPDATE persons SET id = 'k1'").run()
    await local.housekeeping()
    expect(local.badRows()).toEqual([])
    expect((await personsOf(store)).map((person) => person.fields.firstName)).toEqual(['Anna'])
  })

  it('rows without a key are one bad row saying how many, gone once they have keys', async () => {
    const { sql, store, start } = await setUp()
    // Rows from before the daemon's change capture (its triggers refuse a NULL key).
    const triggers = sql
      .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'persons'")
      .all() as { name: string }[]
    for (const { name } of triggers) sql.exec(`DROP TRIGGER "${name}"`)
    const insert = sql.prepare('INSERT INTO persons(id, first_name, last_name) VALUES (?, ?, ?)')
    insert.run(null, 'Nora', 'Null')
    insert.run(null, 'Nils', 'Null')
    insert.run('k1', 'Kari', 'Keyed')
    const local = await start()
    expect((await personsOf(store)).map((person) => person.fields.firstName)).toEqual(['Kari'])
    expect(local.badRows()).toEqual([
      {
        table: 'persons',
        key: '(no key)',
        column: 'id',
        problem: '2 rows have no id (NULL): not synced until given one',
      },
    ])
    // With the daemon's triggers in place, another program still writes a row with no key
    // (the change log once refused it: NOT NULL), and housekeeping counts it.
    insert.run(null, 'Nina', 'Null')
    await local.housekeeping()
    expect(local.badRows()).toMatchObject([
      { problem: expect.stringContaining('3 rows have no id') },
    ])
    sql.prepare("UPDATE persons SET id = 'n-' || first_name WHERE id IS NULL").run()
    await local.housekeeping()
    expect(local.badRows()).toEqual([])
    expect((await personsOf(store)).map((person) => person.fields.firstName).sort()).toEqual([
      'Kari',
      'Nils',
      'Nina',
      'Nora',
    ])
  })

  it('an object made from a bytes-keyed row by an earlier version is not deleted at housekeeping', async () => {
    const { sql, store, start } = await setUp()
    sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('k1', 'Anna', 'Blob')")
      .run()
    const first = await start()
    await first.stop()
    // As an earlier version left it: linked by the key's text, the key itself bytes.
    sql.prepare("UPDATE persons SET id = CAST('k1' AS BLOB)").run()
    sql.prepare(`DELETE FROM ${CHANGES_TABLE}`).run()
    const local = await start()
    await local.housekeeping()
    expect((await personsOf(store)).map((person) => person.deleted)).toEqual([false])
  })

  it('housekeeping leaves a row that says the same as its object in other words', async () => {
    const { sql, store, start } = await setUp()
    sql
      .prepare(
        "INSERT INTO persons(id, first_name, last_name, favourite, birthday) VALUES ('p1', 'Anna', 'Berg', 'FALSE', '1990-1-5')",
      )
      .run()
    const local = await start()
    const [anna] = (await store.list('person')).items
    expect(anna?.fields).toMatchObject({ favourite: false, birthday: '1990-01-05' })
    await local.housekeeping()
    expect(sql.prepare('SELECT favourite, birthday FROM persons').get()).toEqual({
      favourite: 'FALSE',
      birthday: '1990-1-5',
    })
  })

  it("housekeeping rewrites the daemon's own row that a changed mapping can't read", async () => {
    const { sql, store, start } = await setUp()
    const fields = { firstName: 'first_name', lastName: 'last_name', birthday: 'birthday' }
    const local = await start({ person: { table: 'persons', key: 'id', fields } })
    await store.create({
      type: 'person',
      fields: { firstName: 'Anna', lastName: 'Berg', birthday: '1990-05-17' },
    })
    await local.settled()
    await local.stop()
    const person = {
      table: 'persons',
      key: 'id',
      fields: { ...fields, birthday: { column: 'birthday', format: 'dd.MM.yyyy' } },
    }
    const remapped = await start({ person })
    await remapped.housekeeping()
    expect(sql.prepare('SELECT birthday FROM persons').get()).toEqual({ birthday: '17.05.1990' })
    expect(remapped.badRows()).toEqual([])
  })

  it("an emptied donor_id takes only this instance's id out of externalIds; '' clears a reference", async () => {
    const { sql, store, start } = await setUp()
    const local = await start()
    sql.prepare("INSERT INTO organizations(id, name) VALUES ('o1', 'Acme')").run()
    sql
      .prepare(
        "INSERT INTO persons(id, first_name, last_name, organization_id) VALUES ('p1', 'Anna', 'Berg', 'o1')",
      )
      .run()
    sql
      .prepare(
        "INSERT INTO transactions(id, type, person_id, date, amount, donor_id) VALUES ('t1', 'donation', 'p1', '2026-01-02', '10.00', 'D-7')",
      )
      .run()
    await local.settled()
    const [donation] = (await store.list('transaction')).items
    await store.update(donation!.id, {
      fields: { externalIds: { ...(donation!.fields.externalIds as object), other: 'X-1' } },
    })
    await local.settled()
    sql.prepare("UPDATE transactions SET donor_id = NULL WHERE id = 't1'").run()
    sql.prepare("UPDATE persons SET organization_id = '' WHERE id = 'p1'").run()
    await local.settled()
    expect((await store.get(donation!.id))?.fields.externalIds).toEqual({ other: 'X-1' })
    const [anna] = (await store.list('person')).items
    expect(anna?.fields.organizationId).toBeUndefined()
  })

  it('bytes in a custom value and a custom field named __proto__ make bad rows', async () => {
    const { sql, store, start } = await setUp()
    const local = await start()
    sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('p1', 'Anna', 'Berg')")
      .run()
    sql.prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('p2', 'Ole', 'Dahl')").run()
    sql
      .prepare("INSERT INTO custom_fields(object_id, name, value) VALUES ('p1', 'shirt', ?)")
      .run(Buffer.from([0xff, 0xfe]))
    sql
      .prepare("INSERT INTO custom_fields(object_id, name, value) VALUES ('p2', '__proto__', 'x')")
      .run()
    // A name stored as bytes is not read as text either.
    sql.prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('p3', 'Liv', 'Bø')").run()
    sql
      .prepare("INSERT INTO custom_fields(object_id, name, value) VALUES ('p3', ?, 'L')")
      .run(Buffer.from('size'))
    await local.settled()
    expect(
      local
        .badRows()
        .map(({ key, column }) => [key, column])
        .sort(),
    ).toEqual([
      ['p1', 'custom_fields.value'],
      ['p2', 'custom_fields.name'],
      ['p3', 'custom_fields.name'],
    ])
    expect(local.badRows().find((bad) => bad.key === 'p3')?.problem).toBe(
      "custom_fields.name: x'73697a65': expected text, got bytes",
    )
    expect(await store.count('person')).toBe(0)
  })

  it('adds a custom field whose text is "undefined", or a name an object inherits, to a record taken in before', async () => {
    const { sql, store, start } = await setUp()
    sql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('p1', 'Anna', 'Berg')")
      .run()
    const local = await start()
    sql
      .prepare(
        "INSERT INTO custom_fields(object_id, name, value) VALUES ('p1', 'note', 'undefined')",
      )
      .run()
    sql
      .prepare("INSERT INTO custom_fields(object_id, name, value) VALUES ('p1', 'toString', 'x')")
      .run()
    await local.settled()
    const [anna] = (await store.list('person')).items
    expect(anna?.custom).toEqual({ note: 'undefined', toString: 'x' })
  })

  it('takes in a date in a year below 100', async () => {
    const { sql, store, start } = await setUp()
    sql
      .prepare(
        "INSERT INTO persons(id, first_name, last_name, birthday) VALUES ('p1', 'Old', 'Timer', '0001-01-01')",
      )
      .run()
    const local = await start()
    expect((await store.list('person')).items.map((person) => person.fields.birthday)).toEqual([
      '0001-01-01',
    ])
    expect(local.badRows()).toEqual([])
  })
})
