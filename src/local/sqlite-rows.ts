// Writing and reading one record of the SQLite local system, on prepared statements the
// connector keeps (made once per connection). Called inside the connector's transactions.
import type Database from 'better-sqlite3'
import {
  BYTES_NAME,
  type CustomValues,
  type LocalRow,
  type StoredCustomValues,
} from './connector.ts'
import type { EntityMapping, LocalValue } from './mapping/index.ts'
import { KEYS_TABLE } from './assigned-keys.ts'
import { whereColumns, whereSql } from './row-filter.ts'
import { quote } from './sql-names.ts'

/** The connector's prepared statement for a SQL text. */
type Statement = (sql: string) => Database.Statement

/** The SQL of one entity's statements, made once per mapping rather than per row. */
interface EntitySql {
  /** Each with the key, then `filter`, as parameters. */
  selectRow: string
  exists: string
  remove: string
  /** The parameters of the entity's row filter. */
  filter: LocalValue[]
  /** Every row of the entity. */
  selectAll: string
  /** By the row's own columns, in its order (joined with NUL). */
  insert: Map<string, string>
  update: Map<string, string>
}

const sqlOfEntities = new WeakMap<EntityMapping, EntitySql>()

/** The SQL of `entity`'s statements (see EntitySql). */
export function entitySql(entity: EntityMapping): EntitySql {
  let sql = sqlOfEntities.get(entity)
  if (sql === undefined) {
    const filter = whereSql(entity, 'sqlite')
    const where = `FROM ${quote(entity.table)} WHERE ${quote(entity.key)} = ?${filter.sql}`
    sql = {
      selectRow: `SELECT * ${where}`,
      exists: `SELECT 1 ${where}`,
      remove: `DELETE ${where}`,
      filter: filter.params,
      selectAll: `SELECT * FROM ${quote(entity.table)} WHERE true${filter.sql}`,
      insert: new Map(),
      update: new Map(),
    }
    sqlOfEntities.set(entity, sql)
  }
  return sql
}

/** What the caller has just read of the record, in the same transaction. */
export interface RecordHere {
  exists: boolean
  /** Its custom fields as readCustomValues reads them. */
  custom?: StoredCustomValues | undefined
}

/**
 * Inserts or updates the row (mapped columns only) and its custom fields; in a
 * transaction. With `here`, what it holds is not read again. With `assignKey` (a table
 * whose keys SQLite gives, and `key` the id of the object the row is for), a new row is
 * inserted without a key and remembered as the object's (assigned-keys.ts). Returns the
 * row's key.
 */
export function writeRecord(
  statement: Statement,
  entity: EntityMapping,
  key: string,
  row: LocalRow,
  custom: CustomValues | undefined,
  here?: RecordHere,
  assignKey = false,
): string {
  const sql = entitySql(entity)
  if (!(here?.exists ?? statement(sql.exists).get(key, ...sql.filter) !== undefined)) {
    // A new row gets the entity's filter values (is_company = 0), beside its own.
    const full = { ...whereColumns(entity), ...row }
    const names = Object.keys(full).filter((column) => column !== entity.key)
    const shape = `${assignKey}\0${names.join('\0')}`
    let insert = sql.insert.get(shape)
    if (insert === undefined) {
      const columns = assignKey ? names : [entity.key, ...names]
      insert = `INSERT INTO ${quote(entity.table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`
      sql.insert.set(shape, insert)
    }
    const values = names.map((name) => full[name])
    if (!assignKey) {
      statement(insert).run(key, ...values)
      writeCustom(statement, entity, key, custom, here)
      return key
    }
    const given = String(statement(insert).run(...values).lastInsertRowid)
    statement(
      `INSERT INTO ${KEYS_TABLE}(table_name, object_id, row_key) VALUES (?, ?, ?)
       ON CONFLICT(table_name, object_id) DO UPDATE SET row_key = excluded.row_key`,
    ).run(entity.table, key, given)
    writeCustom(statement, entity, given, custom, undefined)
    return given
  }
  const names = Object.keys(row).filter((column) => column !== entity.key)
  const values: unknown[] = [key]
  for (const name of names) values.push(row[name])
  const shape = names.join('\0')
  if (names.length > 0) {
    // An update of the mapped columns only: columns we don't map stay as they are.
    let update = sql.update.get(shape)
    if (update === undefined) {
      update = `UPDATE ${quote(entity.table)} SET ${names.map((column) => `${quote(column)} = ?`).join(', ')} WHERE ${quote(entity.key)} = ?`
      sql.update.set(shape, update)
    }
    values.push(values.shift())
    statement(update).run(...values)
  }
  writeCustom(statement, entity, key, custom, here)
  return key
}

function writeCustom(
  statement: Statement,
  entity: EntityMapping,
  key: string,
  custom: CustomValues | undefined,
  here: RecordHere | undefined,
): void {
  if (custom === undefined || !entity.customFieldsTable) return
  const current = here?.custom ?? readCustomValues(statement, key)
  for (const name of Object.keys(current)) {
    if (!(name in custom)) {
      statement('DELETE FROM custom_fields WHERE object_id = ? AND name = ?').run(key, name)
    }
  }
  for (const [name, value] of Object.entries(custom)) {
    if (current[name] === value) continue
    statement(
      'INSERT INTO custom_fields(object_id, name, value) VALUES (?, ?, ?) ON CONFLICT(object_id, name) DO UPDATE SET value = excluded.value',
    ).run(key, name, value)
  }
}

/** The record's custom fields (empty values left out), by name; bytes stay bytes. */
export function readCustomValues(statement: Statement, key: string): StoredCustomValues {
  const rows = statement(
    'SELECT name, value FROM custom_fields WHERE object_id = ? ORDER BY name',
  ).all(key) as { name: unknown; value: unknown }[]
  return Object.fromEntries(
    rows
      .filter((row) => row.value !== null)
      .map((row) => [
        // A name stored as bytes is not read as text: marked, it makes the row a bad row.
        row.name instanceof Uint8Array
          ? `${BYTES_NAME}x'${Buffer.from(row.name).toString('hex')}'`
          : String(row.name),
        row.value instanceof Uint8Array ? row.value : String(row.value),
      ]),
  )
}
