// The embedded default local system: a SQLite file that other programs write while the
// daemon runs (WAL, busy timeout). Triggers on every mapped table record which rows
// changed — whoever changed them, daemon running or not — in `_objectsync_changes`,
// which the daemon reads from its cursor. better-sqlite3 is synchronous; each call is
// short, and the connection is the daemon's own.
import type Database from 'better-sqlite3'
import { ObjectSyncError } from '../errors.ts'
import {
  CHANGES_TABLE,
  installCapture,
  keyIsRowid,
  logSequence,
  missingCapture,
  tableExists,
} from './sqlite-change-capture.ts'
import { capturedEntities } from './row-filter.ts'
import {
  GROUP_MEMBERS,
  type Connector,
  type CustomValues,
  type LocalChange,
  type LocalRow,
  type ReadRecord,
  type RowWrite,
  type StoredCustomValues,
} from './connector.ts'
import type { EntityMapping } from './mapping/index.ts'
import { entitySql, readCustomValues, writeRecord } from './sqlite-rows.ts'
import { KEYS_TABLE, ownKey } from './assigned-keys.ts'
import { RowidKeys } from './sqlite-keys.ts'
import { openDatabase } from './sqlite-schema.ts'

export class SqliteConnector implements Connector {
  private db: Database.Database | undefined
  /** Whether the file has the default schema's group_members table. */
  private groups = false
  private readonly statements = new Map<string, Database.Statement>()
  private entities: readonly EntityMapping[] = []
  /** SQLite's schema version when the change capture was last made or checked. */
  private schemaVersion = 0
  /** What `open` found missing of the change capture, for the first repair to report. */
  private lostWhileStopped: 'intact' | 'triggers' = 'intact'
  /** The rows SQLite gave their keys, and the objects they were inserted for. */
  private readonly keys = new RowidKeys((sql) => this.statement(sql))

  constructor(readonly path: string) {}

  get description(): string {
    return `SQLite ${this.path}`
  }

  async open(entities: readonly EntityMapping[]): Promise<void> {
    this.db = openDatabase(this.path)
    this.entities = entities
    this.guard('prepare the change log', () => {
      // Triggers lost while the daemon was stopped (a log lost then is found by its
      // sequence, at the first repairChangeCapture).
      this.groups = tableExists(this.open_(), GROUP_MEMBERS)
      this.lostWhileStopped =
        missingCapture(this.open_(), this.capturedTables()) === 'triggers' ? 'triggers' : 'intact'
      this.installCapture_()
      for (const entity of entities) {
        if (keyIsRowid(this.open_(), entity.table, entity.key)) this.keys.tables.add(entity.table)
      }
    })
    return Promise.resolve()
  }

  /** Makes the change capture where missing, and notes the schema version it leaves. */
  private installCapture_(): void {
    const db = this.open_()
    this.schemaVersion = installCapture(db, () => {
      this.groups = tableExists(db, GROUP_MEMBERS)
      return this.capturedTables()
    })
  }

  private capturedTables(): { table: string; key: string }[] {
    const tables = capturedEntities(this.entities)
    if (this.entities.some((entity) => entity.customFieldsTable)) {
      tables.push({ table: 'custom_fields', key: 'object_id' })
    }
    if (this.groups) tables.push({ table: GROUP_MEMBERS, key: 'object_id' })
    return tables
  }

  /**
   * Cheap at every poll: a table dropped and made again (a restore from a dump) loses its
   * triggers, and the change log may be gone too — noticed by SQLite's schema version,
   * here or (`open`) while the daemon was stopped — and both are made again. A log whose
   * sequence is behind `cursor` (the last change taken in) was made anew or restored from
   * a backup. Says what was lost: the caller then compares every table with what it last
   * saw, since edits made meanwhile were not logged, and starts the log over on 'log'.
   */
  repairChangeCapture(cursor: number): Promise<'intact' | 'triggers' | 'log'> {
    const db = this.open_()
    return Promise.resolve(
      this.guard('check the change log', () => {
        let lost: 'intact' | 'triggers' | 'log' = this.lostWhileStopped
        this.lostWhileStopped = 'intact'
        if ((db.pragma('schema_version', { simple: true }) as number) !== this.schemaVersion) {
          const missing = missingCapture(this.open_(), this.capturedTables())
          if (missing !== 'intact') lost = missing
          // Statements prepared on a table since dropped must be prepared anew.
          this.statements.clear()
          this.installCapture_()
        }
        if (cursor > 0 && logSequence(this.open_()) < cursor) lost = 'log'
        return lost
      }),
    )
  }

  close(): Promise<void> {
    this.statements.clear()
    this.db?.close()
    this.db = undefined
    return Promise.resolve()
  }

  changesSince(cursor: number, limit = 1000): Promise<LocalChange[]> {
    return Promise.resolve(
      this.guard('read the change log', () =>
        (
          this.statement(
            `SELECT seq, table_name, row_key, changed_at FROM ${CHANGES_TABLE} WHERE seq > ? ORDER BY seq LIMIT ?`,
          ).all(cursor, limit) as {
            seq: number
            table_name: string
            row_key: unknown
            changed_at: number | null
          }[]
        ).map((row) => ({
          seq: row.seq,
          table: row.table_name,
          key: String(row.row_key),
          ...(row.changed_at === null ? {} : { at: row.changed_at }),
        })),
      ),
    )
  }

  acknowledge(cursor: number): Promise<void> {
    this.guard('trim the change log', () =>
      this.statement(`DELETE FROM ${CHANGES_TABLE} WHERE seq <= ?`).run(cursor),
    )
    return Promise.resolve()
  }

  read(entity: EntityMapping, key: string): Promise<LocalRow | undefined> {
    return Promise.resolve(
      this.guard(`read ${entity.table}`, () => {
        return this.readRow(entity, key)
      }),
    )
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- better-sqlite3 reads synchronously
  async *readAll(entity: EntityMapping): AsyncIterable<LocalRow> {
    const sql = entitySql(entity)
    const rows = this.guard(`read ${entity.table}`, () =>
      this.open_()
        .prepare(sql.selectAll)
        .iterate(...sql.filter),
    ) as IterableIterator<LocalRow>
    for (const row of rows) yield row
  }

  readCustom(key: string): Promise<StoredCustomValues> {
    return Promise.resolve(this.guard('read custom_fields', () => this.readCustomNow(key)))
  }

  private readCustomNow(key: string): StoredCustomValues {
    return readCustomValues(this.statement, key)
  }

  write(entity: EntityMapping, key: string, row: LocalRow, custom?: CustomValues): Promise<void> {
    const db = this.open_()
    this.guard(`write ${entity.table}`, () =>
      db
        .transaction(() => {
          // By its own key where it is there; else inserted (for an object's id, with the
          // key SQLite gives, remembered for that id).
          const own =
            this.readRow(entity, key) === undefined ? undefined : this.keys.ownKey(entity, key)
          const here = own === undefined ? { exists: false } : undefined
          const assign = own === undefined && this.keys.assigns(entity, key)
          writeRecord(this.statement, entity, own ?? key, row, custom, here, assign)
        })
        .immediate(),
    )
    return Promise.resolve()
  }

  /**
   * One transaction for all: each record is read, checked, written and read back with
   * prepared statements (≈ µs a row, against a commit's fsync per row written one by one).
   * The change log's entries of the rows written are removed in the same transaction: they
   * are the daemon's own, and no other program can write in between (BEGIN IMMEDIATE).
   */
  writeMany(
    entity: EntityMapping,
    writes: readonly RowWrite[],
  ): Promise<(ReadRecord | 'changed')[]> {
    const db = this.open_()
    const read = (key: string): ReadRecord => ({
      row: this.readRow(entity, key),
      custom: entity.customFieldsTable ? this.readCustomNow(key) : undefined,
    })
    return Promise.resolve(
      this.guard(`write ${entity.table}`, () =>
        db
          .transaction(() => {
            const logged = logSequence(db)
            // Only the entries of the rows written: a trigger of the user's own that changes
            // other rows logs changes that are theirs to take in.
            const unlog = this.statement(
              `DELETE FROM ${CHANGES_TABLE} WHERE seq > ? AND table_name IN (?, 'custom_fields') AND row_key = ?`,
            )
            return writes.map((write) => {
              const before = read(write.key)
              if (!write.unchanged(before)) return 'changed' as const
              const here = { exists: before.row !== undefined, custom: before.custom }
              // A row found by its object's id is written by its own key.
              const key =
                before.row === undefined ? write.key : ownKey(entity, write.key, before.row)
              const written = writeRecord(
                this.statement,
                entity,
                key,
                write.row,
                write.custom,
                here,
                before.row === undefined && this.keys.assigns(entity, write.key),
              )
              unlog.run(logged, entity.table, written)
              return read(written)
            })
          })
          .immediate(),
      ),
    )
  }

  remove(entity: EntityMapping, key: string): Promise<void> {
    const db = this.open_()
    this.guard(`delete from ${entity.table}`, () =>
      db
        .transaction(() => {
          const own = this.keys.ownKey(entity, key)
          if (own === undefined) return
          const sql = entitySql(entity)
          // Another entity's row under this key (a row filter) is not this one's to remove.
          if (this.statement(sql.remove).run(own, ...sql.filter).changes === 0) return
          this.keys.forget(entity, own)
          if (entity.customFieldsTable) {
            this.statement('DELETE FROM custom_fields WHERE object_id = ?').run(own)
          }
        })
        .immediate(),
    )
    return Promise.resolve()
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- better-sqlite3 reads synchronously
  async *groupMembers(): AsyncIterable<{ group: string; key: string }> {
    if (!this.groups) return
    const rows = this.guard(`read ${GROUP_MEMBERS}`, () =>
      this.open_().prepare(`SELECT group_name, object_id FROM ${GROUP_MEMBERS}`).iterate(),
    ) as IterableIterator<{ group_name: unknown; object_id: unknown }>
    for (const row of rows) yield { group: String(row.group_name), key: String(row.object_id) }
  }

  groupsOf(key: string): Promise<string[]> {
    if (!this.groups) return Promise.resolve([])
    return Promise.resolve(
      this.guard(`read ${GROUP_MEMBERS}`, () =>
        (
          this.statement(
            `SELECT group_name FROM ${GROUP_MEMBERS} WHERE object_id = ? ORDER BY group_name`,
          ).all(key) as { group_name: unknown }[]
        ).map((row) => String(row.group_name)),
      ),
    )
  }

  changeGroups(
    key: string,
    change: { join?: readonly string[]; leave?: readonly string[] },
  ): Promise<void> {
    if (!this.groups) {
      return Promise.reject(
        new ObjectSyncError(
          'LOCAL_SYSTEM_IO',
          `${this.description} has no ${GROUP_MEMBERS} table to change groups in`,
        ),
      )
    }
    const db = this.open_()
    this.guard(`write ${GROUP_MEMBERS}`, () =>
      db
        .transaction(() => {
          for (const group of change.join ?? []) {
            this.statement(
              `INSERT OR IGNORE INTO ${GROUP_MEMBERS}(group_name, object_id) VALUES (?, ?)`,
            ).run(group, key)
          }
          for (const group of change.leave ?? []) {
            this.statement(
              `DELETE FROM ${GROUP_MEMBERS} WHERE group_name = ? AND object_id = ?`,
            ).run(group, key)
          }
        })
        .immediate(),
    )
    return Promise.resolve()
  }

  /** The objects rows were inserted for, where SQLite gave the rows their keys. */
  objectsOfKeys(entity: EntityMapping, keys: readonly string[]): Promise<Map<string, string>> {
    return Promise.resolve(
      this.guard(`read ${KEYS_TABLE}`, () => this.keys.objectsOf(entity, keys)),
    )
  }

  /** The entity's row asked for by `key` (its own, or its object's id: RowidKeys.ownKey). */
  private readRow(entity: EntityMapping, key: string): LocalRow | undefined {
    const own = this.keys.ownKey(entity, key)
    if (own === undefined) return undefined
    const sql = entitySql(entity)
    return this.statement(sql.selectRow).get(own, ...sql.filter) as LocalRow | undefined
  }

  /**
   * A prepared statement, made once per connection (preparing costs more than running).
   * Not for `iterate`: a statement being iterated is busy until the iteration ends.
   */
  private readonly statement = (sql: string): Database.Statement => {
    let prepared = this.statements.get(sql)
    if (prepared === undefined) {
      prepared = this.open_().prepare(sql)
      this.statements.set(sql, prepared)
    }
    return prepared
  }

  private open_(): Database.Database {
    if (this.db === undefined) {
      throw new ObjectSyncError('LOCAL_SYSTEM_IO', `${this.description} is not open`)
    }
    return this.db
  }

  private guard<T>(what: string, operation: () => T): T {
    try {
      return operation()
    } catch (error) {
      if (error instanceof ObjectSyncError) throw error
      throw new ObjectSyncError(
        'LOCAL_SYSTEM_IO',
        `${this.description}: could not ${what}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      )
    }
  }
}
