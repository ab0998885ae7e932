// Writing and reading one record of the SQLite local system, on prepared statements the
// connector keeps (made once per connection). Called inside the connector's transactions.
import type Database from 'better-sqlite3'
import type { CustomValues, LocalRow, StoredCustomValues } from './connector.ts'
import type { EntityMapping } from './mapping/index.ts'
import { quote } from './sqlite-change-capture.ts'

/** The connector's prepared statement for a SQL text. */
type Statement = (sql: string) => Database.Statement

/** Inserts or updates the row (mapped columns only) and its custom fields; in a transaction. */
export function writeRecord(
  statement: Statement,
  entity: EntityMapping,
  key: string,
  row: LocalRow,
  custom: CustomValues | undefined,
): void {
  const columns = [entity.key, ...Object.keys(row).filter((column) => column !== entity.key)]
  const values = columns.map((column) => (column === entity.key ? key : row[column]))
  const existing = statement(
    `SELECT 1 FROM ${quote(entity.table)} WHERE ${quote(entity.key)} = ?`,
  ).get(key)
  if (existing === undefined) {
    statement(
      `INSERT INTO ${quote(entity.table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
    ).run(...values)
  } else {
    // An update of the mapped columns only: columns we don't map stay as they are.
    const set = columns.slice(1)
    if (set.length > 0) {
      statement(
        `UPDATE ${quote(entity.table)} SET ${set.map((column) => `${quote(column)} = ?`).join(', ')} WHERE ${quote(entity.key)} = ?`,
      ).run(...values.slice(1), key)
    }
  }
  if (custom === undefined || !entity.customFieldsTable) return
  const current = statement('SELECT name, value FROM custom_fields WHERE object_id = ?').all(
    key,
  ) as { name: string; value: unknown }[]
  for (const { name } of current) {
    if (!(name in custom)) {
      statement('DELETE FROM custom_fields WHERE object_id = ? AND name = ?').run(key, name)
    }
  }
  for (const [name, value] of Object.entries(custom)) {
    const before = current.find((row) => row.name === name)
    if (before !== undefined && String(before.value) === value) continue
    statement(
      'INSERT INTO custom_fields(object_id, name, value) VALUES (?, ?, ?) ON CONFLICT(object_id, name) DO UPDATE SET value = excluded.value',
    ).run(key, name, value)
  }
}

/** The record's custom fields (empty values left out), by name; bytes stay bytes. */
export function readCustomValues(statement: Statement, key: string): StoredCustomValues {
  const rows = statement(
    'SELECT name, value FROM custom_fields WHERE object_id = ? ORDER BY name',
  ).all(key) as { name: string; value: unknown }[]
  return Object.fromEntries(
    rows
      .filter((row) => row.value !== null)
      .map((row) => [row.name, row.value instanceof Uint8Array ? row.value : String(row.value)]),
  )
}
