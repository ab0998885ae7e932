// A PostgreSQL database as the local system: the tables of a CRM or donor database that
// other programs write while the daemon runs. Triggers log every change of a mapped table
// (postgres-change-capture.ts); the daemon reads the log from its cursor, and a LISTEN
// connection wakes it as soon as another program commits. Writes go in batches: one
// transaction reads the rows (one statement per 1,000), writes those still as the caller
// decided (one statement per row and custom field changed), removes its own log entries
// and reads the rows back.
//
// node-postgres (`pg`) does the protocol, the pool and the password: from the URL, or
// PGPASSWORD, or ~/.pgpass as libpq reads them. The URL holds no password (refused).
// A mapped table's key column must be unique (a primary key), as SQLite's are.
import pg from 'pg'
import { ObjectSyncError } from '../errors.ts'
import {
  CHANGES_TABLE,
  CLAIMED_TABLE,
  claimChanges,
  installCapture,
  missingCapture,
  type CapturedTable,
} from './postgres-change-capture.ts'
import { KEYS_TABLE } from './assigned-keys.ts'
import { capturedEntities, whereSql } from './row-filter.ts'
import { quote } from './sql-names.ts'
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
import {
  BATCH_ROWS,
  objectsOfRows,
  readCustomMany,
  readRecords,
  selectRows,
  writeChecked,
  writeRows,
} from './postgres-rows.ts'
import { ChangeListener } from './postgres-listener.ts'
import {
  clientConfig,
  keyColumn,
  messageOf,
  redactedUrl,
  type KeyColumn,
} from './postgres-schema.ts'

/** How often the change log is read without a wake-up (NOTIFY wakes the daemon at each commit). */
export const POSTGRES_POLL_MS = 2_000

/** Pool clients left in an unknown state (see withClient). */
const brokenClients = new WeakSet<pg.PoolClient>()

export class PostgresConnector implements Connector {
  private pool: pg.Pool | undefined
  private entities: readonly EntityMapping[] = []
  /** Whether the database has the default schema's group_members table. */
  private groups = false
  private hasCustomFields = false
  /**
   * A mapped table's key column: its type, for the arrays of keys sent with `= ANY($1)`,
   * and whether the database gives new rows their keys.
   */
  private readonly keyColumns = new Map<string, KeyColumn>()
  private readonly changes: ChangeListener
  /** What `open` found missing of the change capture, for the first repair to report. */
  private lostWhileStopped: 'intact' | 'triggers' = 'intact'

  constructor(readonly url: string) {
    this.changes = new ChangeListener(url)
  }

  get description(): string {
    return `PostgreSQL ${redactedUrl(this.url)}`
  }

  async open(entities: readonly EntityMapping[]): Promise<void> {
    this.entities = entities
    this.pool = new pg.Pool({ ...clientConfig(this.url), max: 4 })
    // A client that loses its server emits 'error' (idle in the pool, or checked out
    // between queries): the query in flight fails on its own, and the next one connects
    // again. Unhandled, the event would end the daemon.
    this.pool.on('error', () => {})
    this.pool.on('connect', (client) => client.on('error', () => {}))
    await this.guard('open the change log', async () => {
      const exists = await this.pool!.query<{ groups: string | null; custom: string | null }>(
        `SELECT to_regclass('${GROUP_MEMBERS}')::text AS groups, to_regclass('custom_fields')::text AS custom`,
      )
      this.groups = exists.rows[0]?.groups !== null
      this.hasCustomFields = exists.rows[0]?.custom !== null
      for (const entity of entities) {
        this.keyColumns.set(entity.table, await keyColumn(this.pool!, entity, this.description))
      }
      // Triggers lost while the daemon was stopped (a restore from a dump, a TRUNCATE):
      // made again now, and reported at the first repair, which compares every table. A
      // log lost then is found by its positions, at that repair too.
      const missing = await missingCapture(this.pool!, this.capturedTables())
      this.lostWhileStopped = missing === 'triggers' ? 'triggers' : 'intact'
      await this.withClient((client) => installCapture(client, this.capturedTables()))
    }).catch(async (error: unknown) => {
      const pool = this.pool
      this.pool = undefined
      await pool?.end().catch(() => {})
      throw error
    })
    await this.changes.start()
  }

  async close(): Promise<void> {
    await this.changes.stop()
    const pool = this.pool
    this.pool = undefined
    await pool?.end()
  }

  /** Calls `listener` when another program commits a change (a wake-up; poll to read it). */
  onChanges(listener: () => void): () => void {
    return this.changes.add(listener)
  }

  private capturedTables(): CapturedTable[] {
    const tables = capturedEntities(this.entities)
    if (this.hasCustomFields && this.entities.some((entity) => entity.customFieldsTable)) {
      tables.push({ table: 'custom_fields', key: 'object_id' })
    }
    if (this.groups) tables.push({ table: GROUP_MEMBERS, key: 'object_id' })
    return tables
  }

  /**
   * At every poll: triggers dropped (a table restored from a dump, now or while the
   * daemon was stopped) or the log made anew are made again, and a TRUNCATE noticed; the
   * caller is told, to compare every table with what it saw.
   */
  repairChangeCapture(cursor: number): Promise<'intact' | 'triggers' | 'log'> {
    return this.guard('check the change log', async () => {
      const tables = this.capturedTables()
      let lost = await missingCapture(this.open_(), tables)
      if (lost !== 'intact') await this.withClient((client) => installCapture(client, tables))
      if (lost === 'intact') lost = this.lostWhileStopped
      this.lostWhileStopped = 'intact'
      // A log behind the last change taken in was made anew or restored from a backup.
      if (lost !== 'log' && cursor > 0) {
        const claimed = await this.open_().query<{ last: string }>(
          `SELECT last FROM ${CLAIMED_TABLE}`,
        )
        if (Number(claimed.rows[0]?.last ?? 0) < cursor) lost = 'log'
      }
      return lost
    })
  }

  changesSince(cursor: number, limit = 1000): Promise<LocalChange[]> {
    return this.guard('read the change log', async () => {
      await this.withClient(claimChanges)
      const { rows } = await this.open_().query<{
        position: string
        table_name: string
        row_key: string
        changed_at: string | number
      }>(
        `SELECT position, table_name, row_key, changed_at FROM ${CHANGES_TABLE}
         WHERE position > $1 ORDER BY position LIMIT $2`,
        [cursor, limit],
      )
      return rows.map((row) => ({
        seq: Number(row.position),
        table: row.table_name,
        key: row.row_key,
        at: Number(row.changed_at),
      }))
    })
  }

  acknowledge(cursor: number): Promise<void> {
    return this.guard('trim the change log', async () => {
      await this.open_().query(`DELETE FROM ${CHANGES_TABLE} WHERE position <= $1`, [cursor])
    })
  }

  read(entity: EntityMapping, key: string): Promise<LocalRow | undefined> {
    return this.guard(`read ${entity.table}`, async () => {
      const rows = await selectRows(this.open_(), entity, this.keyColumn(entity), [key], false)
      return rows.get(key)
    })
  }

  readMany(entity: EntityMapping, keys: readonly string[]): Promise<Map<string, ReadRecord>> {
    return this.guard(`read ${entity.table}`, () =>
      this.withClient((client) =>
        readRecords(client, entity, this.keyColumn(entity), this.customFields(entity), keys),
      ),
    )
  }

  /** Every row, a page at a time in key order (no cursor held open between pages). */
  async *readAll(entity: EntityMapping): AsyncIterable<LocalRow> {
    const key = quote(entity.key)
    const filter = whereSql(entity, 'postgres', 2)
    let after: unknown
    for (;;) {
      const page = await this.guard(`read ${entity.table}`, () =>
        this.open_().query<LocalRow>(
          `SELECT * FROM ${quote(entity.table)} WHERE ${after === undefined ? '$1::text IS NULL' : `${key} > $1`}${filter.sql} ORDER BY ${key} LIMIT ${BATCH_ROWS}`,
          [after ?? null, ...filter.params],
        ),
      )
      yield* page.rows
      if (page.rows.length < BATCH_ROWS) return
      after = page.rows[page.rows.length - 1]![entity.key]
    }
  }

  readCustom(key: string): Promise<StoredCustomValues> {
    if (!this.hasCustomFields) return Promise.resolve({})
    return this.guard('read custom_fields', async () => {
      const all = await readCustomMany(this.open_(), [key])
      return all.get(key) ?? {}
    })
  }

  write(entity: EntityMapping, key: string, row: LocalRow, custom?: CustomValues): Promise<void> {
    return this.guard(`write ${entity.table}`, () =>
      this.transaction(async (client) => {
        const column = this.keyColumn(entity)
        const here = (await selectRows(client, entity, column, [key], true)).get(key)
        const own = here === undefined ? key : String(here[entity.key])
        await writeRows(client, entity, column, this.customFields(entity), [
          { key: own, row, custom, exists: here !== undefined },
        ])
      }),
    )
  }

  remove(entity: EntityMapping, key: string): Promise<void> {
    return this.guard(`delete from ${entity.table}`, () =>
      this.transaction(async (client) => {
        const here = (await selectRows(client, entity, this.keyColumn(entity), [key], true)).get(
          key,
        )
        if (here === undefined) return
        const own = String(here[entity.key])
        await client.query(
          `DELETE FROM ${quote(entity.table)} WHERE ${quote(entity.key)} = $1::${this.keyColumn(entity).type}`,
          [own],
        )
        await client.query(`DELETE FROM ${KEYS_TABLE} WHERE table_name = $1 AND row_key = $2`, [
          entity.table,
          own,
        ])
        if (entity.customFieldsTable && this.hasCustomFields) {
          await client.query('DELETE FROM custom_fields WHERE object_id = $1', [own])
        }
      }),
    )
  }

  /** The objects rows were inserted for, where the database gave the rows their keys. */
  objectsOfKeys(entity: EntityMapping, keys: readonly string[]): Promise<Map<string, string>> {
    if (!this.keyColumn(entity).assigned || keys.length === 0)
      return Promise.resolve(new Map<string, string>())
    return this.guard(`read ${KEYS_TABLE}`, () => objectsOfRows(this.open_(), entity, keys))
  }

  /**
   * One transaction: the rows are read (locked), each checked, those still as decided
   * written, the log entries of this transaction's own writes removed, and the rows read
   * back — a few statements per thousand rows.
   */
  async writeMany(
    entity: EntityMapping,
    writes: readonly RowWrite[],
  ): Promise<(ReadRecord | 'changed')[]> {
    if (writes.length === 0) return []
    return this.guard(`write ${entity.table}`, () =>
      this.transaction((client) =>
        writeChecked(client, entity, this.keyColumn(entity), this.customFields(entity), writes),
      ),
    )
  }

  async *groupMembers(): AsyncIterable<{ group: string; key: string }> {
    if (!this.groups) return
    const { rows } = await this.guard(`read ${GROUP_MEMBERS}`, () =>
      this.open_().query<{ group_name: string; object_id: string }>(
        `SELECT group_name, object_id FROM ${GROUP_MEMBERS}`,
      ),
    )
    for (const row of rows) yield { group: row.group_name, key: row.object_id }
  }

  groupsOf(key: string): Promise<string[]> {
    if (!this.groups) return Promise.resolve([])
    return this.guard(`read ${GROUP_MEMBERS}`, async () => {
      const { rows } = await this.open_().query<{ group_name: string }>(
        `SELECT group_name FROM ${GROUP_MEMBERS} WHERE object_id = $1 ORDER BY group_name`,
        [key],
      )
      return rows.map((row) => row.group_name)
    })
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
    return this.guard(`write ${GROUP_MEMBERS}`, () =>
      this.transaction(async (client) => {
        for (const group of change.join ?? []) {
          await client.query(
            `INSERT INTO ${GROUP_MEMBERS}(group_name, object_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
            [group, key],
          )
        }
        for (const group of change.leave ?? []) {
          await client.query(
            `DELETE FROM ${GROUP_MEMBERS} WHERE group_name = $1 AND object_id = $2`,
            [group, key],
          )
        }
      }),
    )
  }

  private customFields(entity: EntityMapping): boolean {
    return entity.customFieldsTable && this.hasCustomFields
  }

  private keyColumn(entity: EntityMapping): KeyColumn {
    return (
      this.keyColumns.get(entity.table) ?? { type: 'text', assigned: false, alwaysIdentity: false }
    )
  }

  private open_(): pg.Pool {
    if (this.pool === undefined) {
      throw new ObjectSyncError('LOCAL_SYSTEM_IO', `${this.description} is not open`)
    }
    return this.pool
  }

  private async withClient<T>(use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.open_().connect()
    try {
      return await use(client)
    } finally {
      // A client whose ROLLBACK failed may still be inside its transaction: destroyed,
      // not handed to the next caller.
      client.release(brokenClients.has(client))
    }
  }

  /**
   * A REPEATABLE READ transaction: a row (or custom field) another program commits after
   * this one has read makes its write fail (a serialization error, tried again like any
   * failed write) rather than be overwritten unseen, as SQLite's BEGIN IMMEDIATE ensures.
   */
  private transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
      try {
        const result = await work(client)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => brokenClients.add(client))
        throw error
      }
    })
  }

  private async guard<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      if (error instanceof ObjectSyncError) throw error
      throw new ObjectSyncError(
        'LOCAL_SYSTEM_IO',
        `${this.description}: could not ${what}: ${messageOf(error)}`,
        { cause: error },
      )
    }
  }
}
