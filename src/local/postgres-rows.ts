// Reading and writing records of a PostgreSQL local system in batches, inside the
// connector's transactions: rows by many keys at once (`= ANY($1)`, typed as the key
// column), custom fields likewise, and each row's insert or update.
import type pg from 'pg'
import type {
  CustomValues,
  LocalRow,
  ReadRecord,
  RowWrite,
  StoredCustomValues,
} from './connector.ts'
import { CHANGES_TABLE } from './postgres-change-capture.ts'
import type { LocalValue } from './mapping/conversion.ts'
import type { EntityMapping } from './mapping/index.ts'
import { isObjectId } from '../model/index.ts'
import { KEYS_TABLE, lookupKeys, objectIdsAmong } from './assigned-keys.ts'
import type { KeyColumn } from './postgres-schema.ts'
import { whereColumns, whereSql } from './row-filter.ts'
import { quote } from './sql-names.ts'

/** Rows read per statement. */
export const BATCH_ROWS = 1000

export interface PendingWrite {
  /** The row's own key, or (a row to insert) the id of the object it is for. */
  key: string
  row: LocalRow
  custom?: CustomValues | undefined
  exists: boolean
  /** The record's custom fields as read in this transaction. */
  current?: StoredCustomValues | undefined
}

/**
 * The rows with these keys (by the key each was asked for: its own, or where the database
 * gave it its key, the id of the object it was inserted for), locked for this transaction
 * with `lock`.
 */
export async function selectRows(
  client: pg.PoolClient | pg.Pool,
  entity: EntityMapping,
  key: KeyColumn,
  keys: readonly string[],
  lock: boolean,
): Promise<Map<string, LocalRow>> {
  const found = new Map<string, LocalRow>()
  const lookup = lookupKeys(
    keys,
    key.assigned ? await insertedRows(client, entity, keys) : undefined,
  )
  const filter = whereSql(entity, 'postgres', 2)
  for (let start = 0; start < lookup.keys.length; start += BATCH_ROWS) {
    const { rows } = await client.query<LocalRow>(
      `SELECT * FROM ${quote(entity.table)} WHERE ${quote(entity.key)} = ANY($1::${key.type}[])${filter.sql}${lock ? ' FOR UPDATE' : ''}`,
      [lookup.keys.slice(start, start + BATCH_ROWS), ...filter.params],
    )
    for (const row of rows) {
      for (const asked of lookup.askedBy.get(String(row[entity.key])) ?? []) found.set(asked, row)
    }
  }
  return found
}

/** For the object ids among `keys`, the keys of the rows inserted for them. */
async function insertedRows(
  client: pg.PoolClient | pg.Pool,
  entity: EntityMapping,
  keys: readonly string[],
): Promise<Map<string, string>> {
  const objects = objectIdsAmong(keys)
  if (objects.length === 0) return new Map()
  const { rows } = await client.query<{ object_id: string; row_key: string }>(
    `SELECT object_id, row_key FROM ${KEYS_TABLE} WHERE table_name = $1 AND object_id = ANY($2::text[])`,
    [entity.table, objects],
  )
  return new Map(rows.map((row) => [row.object_id, row.row_key]))
}

/** The objects the daemon inserted rows with these keys for (keys the database gave). */
export async function objectsOfRows(
  client: pg.Pool,
  entity: EntityMapping,
  keys: readonly string[],
): Promise<Map<string, string>> {
  const { rows } = await client.query<{ object_id: string; row_key: string }>(
    `SELECT object_id, row_key FROM ${KEYS_TABLE} WHERE table_name = $1 AND row_key = ANY($2::text[])`,
    [entity.table, keys],
  )
  return new Map(rows.map((row) => [row.row_key, row.object_id]))
}

/** Custom fields by record key, as readCustomValues reads them for SQLite. */
export async function readCustomMany(
  client: pg.PoolClient | pg.Pool,
  keys: readonly string[],
): Promise<Map<string, StoredCustomValues>> {
  const found = new Map<string, StoredCustomValues>()
  const { rows } = await client.query<{
    object_id: string
    name: string
    value: string | number | Uint8Array | null
  }>(
    'SELECT object_id, name, value FROM custom_fields WHERE object_id = ANY($1::text[]) ORDER BY object_id, name',
    [keys],
  )
  for (const row of rows) {
    if (row.value === null) continue
    const values = found.get(row.object_id) ?? {}
    values[row.name] = row.value instanceof Uint8Array ? row.value : String(row.value)
    found.set(row.object_id, values)
  }
  return found
}

/** A value as node-postgres sends it: bytes as a Buffer, the rest as they are. */
function toParameter(value: LocalValue | undefined): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  }
  return value ?? null
}

/** The records with these keys, as `read` and `readCustom` read them (absent: no row). */
export async function readRecords(
  client: pg.PoolClient,
  entity: EntityMapping,
  key: KeyColumn,
  customFields: boolean,
  keys: readonly string[],
): Promise<Map<string, ReadRecord>> {
  const rows = await selectRows(client, entity, key, keys, false)
  const customs = customFields ? await readCustomMany(client, keys) : undefined
  // As readCustom reads them: {} for an entity that keeps custom fields where the
  // database has no custom_fields table.
  const noCustom = entity.customFieldsTable ? {} : undefined
  return new Map(
    keys.map((key) => [key, { row: rows.get(key), custom: customs?.get(key) ?? noCustom }]),
  )
}

/** Parameters per statement: PostgreSQL takes at most 65,535. */
const MAX_PARAMETERS = 60_000

/**
 * Writes each row — the absent ones inserted many to a statement (by the columns they
 * set), the others updated one by one (their mapped columns only) — and its custom
 * fields where `customFields` (the table exists and the entity keeps them). Returns each
 * row's key: its own, or the one the database gave a row inserted for an object (which
 * is remembered in the same transaction, see assigned-keys.ts).
 */
export async function writeRows(
  client: pg.PoolClient,
  entity: EntityMapping,
  key: KeyColumn,
  customFields: boolean,
  writes: readonly PendingWrite[],
): Promise<string[]> {
  const table = quote(entity.table)
  const keys = writes.map((write) => write.key)
  const inserts = new Map<string, { names: string[]; indexes: number[]; keyed: boolean }>()
  for (const [index, write] of writes.entries()) {
    if (!write.exists) {
      // A new row gets the entity's filter values (is_company = 0), beside its own.
      const names = Object.keys({ ...whereColumns(entity), ...write.row }).filter(
        (column) => column !== entity.key,
      )
      const keyed = !(key.assigned && isObjectId(write.key))
      const shape = `${keyed}\0${names.join('\0')}`
      const group = inserts.get(shape) ?? { names, indexes: [], keyed }
      group.indexes.push(index)
      inserts.set(shape, group)
      continue
    }
    const names = Object.keys(write.row).filter((column) => column !== entity.key)
    if (names.length > 0) {
      await client.query(
        `UPDATE ${table} SET ${names.map((name, i) => `${quote(name)} = $${i + 2}`).join(', ')} WHERE ${quote(entity.key)} = $1::${key.type}`,
        [write.key, ...names.map((name) => toParameter(write.row[name]))],
      )
    }
  }
  for (const group of inserts.values()) {
    for (const [index, given] of await insertRows(client, entity, key, writes, group)) {
      keys[index] = given
    }
  }
  const given = [...inserts.values()]
    .filter((group) => !group.keyed)
    .flatMap((group) => group.indexes)
  if (given.length > 0) {
    await client.query(
      `INSERT INTO ${KEYS_TABLE}(table_name, object_id, row_key)
       SELECT $1, * FROM unnest($2::text[], $3::text[])
       ON CONFLICT (table_name, object_id) DO UPDATE SET row_key = excluded.row_key`,
      [entity.table, given.map((index) => writes[index]!.key), given.map((index) => keys[index])],
    )
  }
  if (customFields) await writeCustom(client, writes)
  return keys
}

/**
 * Inserts rows of one shape, many to a statement; `keyed`: with their keys, else with
 * the keys the database gives, returned by index in `writes`.
 */
async function insertRows(
  client: pg.PoolClient,
  entity: EntityMapping,
  key: KeyColumn,
  writes: readonly PendingWrite[],
  group: { names: string[]; indexes: number[]; keyed: boolean },
): Promise<[number, string][]> {
  const given: [number, string][] = []
  const columns = [...(group.keyed ? [entity.key] : []), ...group.names]
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length))
  for (let start = 0; start < group.indexes.length; start += perStatement) {
    const indexes = group.indexes.slice(start, start + perStatement)
    const values: unknown[] = []
    const tuples = indexes.map((index) => {
      const write = writes[index]!
      const row = { ...whereColumns(entity), ...write.row }
      if (group.keyed) values.push(write.key)
      values.push(...group.names.map((name) => toParameter(row[name])))
      const first = values.length - columns.length
      return `(${columns.map((_, i) => `$${first + i + 1}`).join(', ')})`
    })
    // A multi-row VALUES insert returns its rows in the order of its VALUES. A row written
    // back under its own key (a record kept by a peer, deleted here) overrides an identity.
    const overriding = group.keyed && key.alwaysIdentity ? ' OVERRIDING SYSTEM VALUE' : ''
    const { rows } = await client.query<LocalRow>(
      `INSERT INTO ${quote(entity.table)} (${columns.map(quote).join(', ')})${overriding} VALUES ${tuples.join(', ')}${group.keyed ? '' : ` RETURNING ${quote(entity.key)}`}`,
      values,
    )
    if (!group.keyed) {
      for (const [i, index] of indexes.entries()) given.push([index, String(rows[i]![entity.key])])
    }
  }
  return given
}

async function writeCustom(client: pg.PoolClient, writes: readonly PendingWrite[]): Promise<void> {
  for (const write of writes) {
    if (write.custom === undefined) continue
    const current =
      write.current ?? (await readCustomMany(client, [write.key])).get(write.key) ?? {}
    const gone = Object.keys(current).filter((name) => !(name in write.custom!))
    if (gone.length > 0) {
      await client.query(
        'DELETE FROM custom_fields WHERE object_id = $1 AND name = ANY($2::text[])',
        [write.key, gone],
      )
    }
    for (const [name, value] of Object.entries(write.custom)) {
      if (current[name] === value) continue
      await client.query(
        `INSERT INTO custom_fields(object_id, name, value) VALUES ($1, $2, $3)
         ON CONFLICT (object_id, name) DO UPDATE SET value = excluded.value`,
        [write.key, name, value],
      )
    }
  }
}

/**
 * In the caller's transaction: the rows are read (locked), each checked, those still as
 * decided written, the log entries of this transaction's own writes removed, and the rows
 * read back — a few statements per thousand rows. (Connector.writeMany)
 */
export async function writeChecked(
  client: pg.PoolClient,
  entity: EntityMapping,
  column: KeyColumn,
  custom: boolean,
  writes: readonly RowWrite[],
): Promise<(ReadRecord | 'changed')[]> {
  const keys = writes.map((write) => write.key)
  const before = await selectRows(client, entity, column, keys, true)
  const beforeCustom = custom ? await readCustomMany(client, keys) : undefined
  const chosen: PendingWrite[] = []
  /** For each write, its index in `chosen` (undefined: not written). */
  const chosenAt: (number | undefined)[] = writes.map((write) => {
    const row = before.get(write.key)
    const now = { row, custom: custom ? (beforeCustom!.get(write.key) ?? {}) : undefined }
    if (!write.unchanged(now)) return undefined
    // A row found by its object's id is written by its own key.
    const key = row === undefined ? write.key : String(row[entity.key])
    chosen.push({ ...write, key, exists: row !== undefined, current: now.custom })
    return chosen.length - 1
  })
  const written = await writeRows(client, entity, column, custom, chosen)
  await client.query(
    `DELETE FROM ${CHANGES_TABLE} WHERE xid = pg_current_xact_id()
     AND table_name IN ($1, 'custom_fields') AND row_key = ANY($2::text[])`,
    [entity.table, written],
  )
  const after = await selectRows(client, entity, column, written, false)
  const afterCustom = custom ? await readCustomMany(client, written) : undefined
  return chosenAt.map((index) => {
    if (index === undefined) return 'changed' as const
    const key = written[index]!
    return {
      row: after.get(key),
      custom: custom ? (afterCustom!.get(key) ?? {}) : undefined,
    }
  })
}
