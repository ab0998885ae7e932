// How the SQLite local system reports its changes: triggers on every mapped table write
// each changed row's table, key and time into `_objectsync_changes`, whoever changed it,
// daemon running or not. Made at open, and again when something removed them (a table
// restored from a dump drops its triggers; a restore may drop the log too).
import type Database from 'better-sqlite3'
import { KEYS_TABLE } from './assigned-keys.ts'
import { quote } from './sql-names.ts'

export const CHANGES_TABLE = '_objectsync_changes'

const TRIGGER_KINDS = ['insert', 'update', 'delete'] as const
const triggerName = (table: string, kind: (typeof TRIGGER_KINDS)[number]) =>
  `_objectsync_${table}_${kind}`

/** A table whose rows are logged, and its key column. */
export interface CapturedTable {
  table: string
  key: string
}

/**
 * Makes the change log and every table's triggers, in one transaction (no change slips
 * between a trigger dropped and made again: earlier versions' triggers logged no time).
 * `tables` is read inside it. Returns the schema version it leaves, read in the same
 * transaction, so another program's schema change right after it still counts as one.
 */
export function installCapture(db: Database.Database, tables: () => CapturedTable[]): number {
  return db
    .transaction(() => {
      db.exec(
        `CREATE TABLE IF NOT EXISTS ${CHANGES_TABLE}(seq INTEGER PRIMARY KEY AUTOINCREMENT,
           table_name TEXT NOT NULL, row_key TEXT NOT NULL, changed_at INTEGER)`,
      )
      // A change log made by an earlier version: the time of each change is added.
      const columns = db.pragma(`table_info(${CHANGES_TABLE})`) as { name: string }[]
      if (!columns.some((column) => column.name === 'changed_at')) {
        db.exec(`ALTER TABLE ${CHANGES_TABLE} ADD COLUMN changed_at INTEGER`)
      }
      // Which object each row the daemon inserted with a key SQLite gave stands for
      // (assigned-keys.ts). Not logged: it is the daemon's own.
      db.exec(
        `CREATE TABLE IF NOT EXISTS ${KEYS_TABLE}(table_name TEXT NOT NULL, object_id TEXT NOT NULL,
           row_key TEXT NOT NULL, PRIMARY KEY (table_name, object_id));
         CREATE INDEX IF NOT EXISTS ${KEYS_TABLE}_row ON ${KEYS_TABLE}(table_name, row_key)`,
      )
      for (const { table, key } of tables()) installTriggers(db, table, key)
      return db.pragma('schema_version', { simple: true }) as number
    })
    .immediate()
}

function installTriggers(db: Database.Database, table: string, key: string): void {
  // The time of the change in ms since the epoch (SQLite's 'now' is UTC, to the ms).
  const now = `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`
  // A row without a key (NULL) is not logged: nothing names it (a full read reports it),
  // and the other program's write must not fail on our log's NOT NULL.
  const log = (row: 'NEW' | 'OLD') =>
    `INSERT INTO ${CHANGES_TABLE}(table_name, row_key, changed_at) SELECT '${table}', ${row}.${quote(key)}, ${now} WHERE ${row}.${quote(key)} IS NOT NULL;`
  const name = (what: (typeof TRIGGER_KINDS)[number]) => quote(triggerName(table, what))
  // A row gone, by whoever: no object is remembered for its key (SQLite may give the key
  // to a later row).
  const forget = `DELETE FROM ${KEYS_TABLE} WHERE table_name = '${table}' AND row_key = OLD.${quote(key)};`
  db.exec(`
    DROP TRIGGER IF EXISTS ${name('insert')};
    CREATE TRIGGER ${name('insert')} AFTER INSERT ON ${quote(table)}
      BEGIN ${log('NEW')} END;
    DROP TRIGGER IF EXISTS ${name('update')};
    CREATE TRIGGER ${name('update')} AFTER UPDATE ON ${quote(table)}
      BEGIN ${log('OLD')} ${log('NEW')} END;
    DROP TRIGGER IF EXISTS ${name('delete')};
    CREATE TRIGGER ${name('delete')} AFTER DELETE ON ${quote(table)}
      BEGIN ${log('OLD')} ${forget} END;`)
}

export function tableExists(db: Database.Database, name: string): boolean {
  return (
    db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !==
    undefined
  )
}

/** What of the change capture is missing now: the log, some triggers, or nothing. */
export function missingCapture(
  db: Database.Database,
  tables: readonly CapturedTable[],
): 'intact' | 'triggers' | 'log' {
  if (!tableExists(db, CHANGES_TABLE)) return 'log'
  const triggers = new Set(
    (
      db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger'`).all() as {
        name: string
      }[]
    ).map((row) => row.name),
  )
  const missing = tables.some(({ table }) =>
    TRIGGER_KINDS.some((kind) => !triggers.has(triggerName(table, kind))),
  )
  return missing ? 'triggers' : 'intact'
}

/** The change log's last sequence number handed out (0 for a log never written). */
export function logSequence(db: Database.Database): number {
  const row = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = ?`).get(CHANGES_TABLE) as
    { seq: number } | undefined
  return row?.seq ?? 0
}

/**
 * Whether SQLite gives the table's rows their keys: the key column is the rowid (`INTEGER
 * PRIMARY KEY`), which holds integers only, so an object's id can't be one.
 */
export function keyIsRowid(db: Database.Database, table: string, key: string): boolean {
  const columns = db.pragma(`table_info(${quote(table)})`) as {
    name: string
    type: string
    pk: number
  }[]
  const keys = columns.filter((column) => column.pk > 0)
  return keys.length === 1 && keys[0]!.name === key && keys[0]!.type.toUpperCase() === 'INTEGER'
}
