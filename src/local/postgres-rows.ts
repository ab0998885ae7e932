// Reading and writing records of a PostgreSQL local system in batches, inside the
// connector's transactions: rows by many keys at once (`= ANY($1)`, typed as the key
// column), custom fields likewise, and each row's insert or update.
import type pg from 'pg'
import type { CustomValues, LocalRow, ReadRecord, StoredCustomValues } from './connector.ts'
import type { LocalValue } from './mapping/conversion.ts'
import type { EntityMapping } from './mapping/index.ts'
import { whereColumns, whereSql } from './row-filter.ts'
import { quote } from './sql-names.ts'

/** Rows read per statement. */
export const BATCH_ROWS = 1000

export interface PendingWrite {
  key: string
  row: LocalRow
  custom?: CustomValues | undefined
  exists: boolean
  /** The record's custom fields as read in this transaction. */
  current?: StoredCustomValues | undefined
}

/** The rows with these keys (by key as text), locked for this transaction with `lock`. */
export async function selectRows(
  client: pg.PoolClient,
  entity: EntityMapping,
  keyType: string,
  keys: readonly string[],
  lock: boolean,
): Promise<Map<string, LocalRow>> {
  const found = new Map<string, LocalRow>()
  const filter = whereSql(entity, 'postgres', 2)
  for (let start = 0; start < keys.length; start += BATCH_ROWS) {
    const { rows } = await client.query<LocalRow>(
      `SELECT * FROM ${quote(entity.table)} WHERE ${quote(entity.key)} = ANY($1::${keyType}[])${filter.sql}${lock ? ' FOR UPDATE' : ''}`,
      [keys.slice(start, start + BATCH_ROWS), ...filter.params],
    )
    for (const row of rows) found.set(String(row[entity.key]), row)
  }
  return found
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
  keyType: string,
  customFields: boolean,
  keys: readonly string[],
): Promise<Map<string, ReadRecord>> {
  const rows = await selectRows(client, entity, keyType, keys, false)
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
 * fields where `customFields` (the table exists and the entity keeps them).
 */
export async function writeRows(
  client: pg.PoolClient,
  entity: EntityMapping,
  keyType: string,
  customFields: boolean,
  writes: readonly PendingWrite[],
): Promise<void> {
  const table = quote(entity.table)
  const key = quote(entity.key)
  const inserts = new Map<string, { names: string[]; writes: PendingWrite[] }>()
  for (const write of writes) {
    if (!write.exists) {
      // A new row gets the entity's filter values (is_company = 0), beside its own.
      const row = { ...whereColumns(entity), ...write.row }
      const names = Object.keys(row).filter((column) => column !== entity.key)
      const shape = names.join('\0')
      const group = inserts.get(shape) ?? { names, writes: [] }
      group.writes.push({ ...write, row })
      inserts.set(shape, group)
      continue
    }
    const names = Object.keys(write.row).filter((column) => column !== entity.key)
    if (names.length > 0) {
      await client.query(
        `UPDATE ${table} SET ${names.map((name, i) => `${quote(name)} = $${i + 2}`).join(', ')} WHERE ${key} = $1::${keyType}`,
        [write.key, ...names.map((name) => toParameter(write.row[name]))],
      )
    }
  }
  for (const { names, writes: group } of inserts.values()) {
    const columns = [key, ...names.map(quote)]
    const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length))
    for (let start = 0; start < group.length; start += perStatement) {
      const rows = group.slice(start, start + perStatement)
      const values: unknown[] = []
      const tuples = rows.map((write) => {
        values.push(write.key, ...names.map((name) => toParameter(write.row[name])))
        const first = values.length - columns.length
        return `(${columns.map((_, i) => `$${first + i + 1}`).join(', ')})`
      })
      await client.query(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`,
        values,
      )
    }
  }
  if (!customFields) return
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
