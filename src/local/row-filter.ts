// An entity's row filter (`where`) as each local system applies it: SQL conditions with
// their parameters, the test of a row in memory, and the values a row the daemon inserts
// gets. Booleans are bound as 1 and 0: SQLite keeps them so (and binds no booleans), and
// PostgreSQL reads '1' and '0' as a boolean column's true and false.
import type { LocalRow } from './connector.ts'
import type { EntityMapping, LocalValue, WhereValue } from './mapping/index.ts'
import { quote } from './sql-names.ts'

export type Dialect = 'sqlite' | 'postgres'

function bound(value: WhereValue): LocalValue {
  return typeof value === 'boolean' ? Number(value) : value
}

/**
 * The filter as SQL conditions (` AND "col" = ?` each, to follow another condition) and
 * their parameters; PostgreSQL's numbered from `first`.
 */
export function whereSql(
  entity: EntityMapping,
  dialect: Dialect,
  first = 1,
): { sql: string; params: LocalValue[] } {
  let sql = ''
  const params: LocalValue[] = []
  for (const [column, value] of Object.entries(entity.where)) {
    if (value === null) {
      sql += ` AND ${quote(column)} IS NULL`
      continue
    }
    params.push(bound(value))
    sql += ` AND ${quote(column)} = ${dialect === 'sqlite' ? '?' : `$${first + params.length - 1}`}`
  }
  return { sql, params }
}

/** The columns and values a row the daemon inserts gets from the filter. */
export function whereColumns(entity: EntityMapping): LocalRow {
  const row: LocalRow = {}
  for (const [column, value] of Object.entries(entity.where)) row[column] = bound(value)
  return row
}

/**
 * Whether a row in memory is the entity's, compared as SQL compares a column with a
 * value: the filter's booleans as 1 and 0, a number and its text alike.
 */
export function rowMatches(entity: EntityMapping, row: LocalRow): boolean {
  return Object.entries(entity.where).every(([column, value]) => {
    const held = row[column] ?? null
    const wanted = bound(value)
    if (held === null || wanted === null) return held === wanted
    return !(held instanceof Uint8Array) && String(held) === String(wanted)
  })
}

/** Each mapped table once, with its key column (entities told apart by a filter share one). */
export function capturedEntities(
  entities: readonly EntityMapping[],
): { table: string; key: string }[] {
  const tables = new Map<string, string>()
  for (const entity of entities) tables.set(entity.table, entity.key)
  return [...tables].map(([table, key]) => ({ table, key }))
}
