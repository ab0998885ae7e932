// Keys SQLite gives (assigned-keys.ts): a mapped table whose key column is the rowid
// (`INTEGER PRIMARY KEY`) takes no object's id as a key, so the daemon's new rows get
// SQLite's, and `_objectsync_keys` remembers which object each was inserted for.
import type Database from 'better-sqlite3'
import { isObjectId } from '../model/index.ts'
import { KEYS_TABLE } from './assigned-keys.ts'
import type { EntityMapping } from './mapping/index.ts'

export class RowidKeys {
  /** The mapped tables whose keys SQLite gives. */
  readonly tables = new Set<string>()

  constructor(private readonly statement: (sql: string) => Database.Statement) {}

  /** Whether a row written for `key` that is new gets its key from SQLite. */
  assigns(entity: EntityMapping, key: string): boolean {
    return this.tables.has(entity.table) && isObjectId(key)
  }

  /**
   * The key of the row asked for by `key`: `key` itself, or in a table whose keys SQLite
   * gives, for an object's id, the key of the row inserted for it (undefined: none).
   */
  ownKey(entity: EntityMapping, key: string): string | undefined {
    if (!this.assigns(entity, key)) return key
    const found = this.statement(
      `SELECT row_key FROM ${KEYS_TABLE} WHERE table_name = ? AND object_id = ?`,
    ).get(entity.table, key) as { row_key: string } | undefined
    return found?.row_key
  }

  /** The objects rows with these keys were inserted for (other rows are not in the map). */
  objectsOf(entity: EntityMapping, keys: readonly string[]): Map<string, string> {
    const found = new Map<string, string>()
    if (!this.tables.has(entity.table)) return found
    const select = this.statement(
      `SELECT object_id FROM ${KEYS_TABLE} WHERE table_name = ? AND row_key = ?`,
    )
    for (const key of keys) {
      const row = select.get(entity.table, key) as { object_id: string } | undefined
      if (row !== undefined) found.set(key, row.object_id)
    }
    return found
  }

  /** The row is gone: no object is remembered for it. */
  forget(entity: EntityMapping, key: string): void {
    this.statement(`DELETE FROM ${KEYS_TABLE} WHERE table_name = ? AND row_key = ?`).run(
      entity.table,
      key,
    )
  }
}
