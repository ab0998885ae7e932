// The PostgreSQL local system's default schema, how its values read (as SQLite's do),
// and its URL as shown (without a password).
import pg from 'pg'
import { ObjectSyncError } from '../errors.ts'
import type { EntityMapping } from './mapping/index.ts'
import { quote } from './postgres-change-capture.ts'

/** The default schema of INTERFACE.md, as SQLite's (the same tables, columns and types). */
export const DEFAULT_POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS organizations(id TEXT PRIMARY KEY, name TEXT NOT NULL, org_number TEXT,
  email TEXT, phone TEXT, website TEXT, address TEXT, category TEXT,
  favourite INTEGER NOT NULL DEFAULT 0, archived INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS persons(id TEXT PRIMARY KEY, first_name TEXT NOT NULL,
  last_name TEXT NOT NULL, email TEXT, phone TEXT, birthday TEXT, title TEXT,
  organization_id TEXT, role TEXT, favourite INTEGER NOT NULL DEFAULT 0,
  archived INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS transactions(id TEXT PRIMARY KEY, type TEXT NOT NULL, person_id TEXT,
  organization_id TEXT, date TEXT NOT NULL, amount TEXT, currency TEXT, description TEXT,
  donor_id TEXT);
CREATE TABLE IF NOT EXISTS files(id TEXT PRIMARY KEY, person_id TEXT, kind TEXT,
  name TEXT NOT NULL, media_type TEXT, content BYTEA);
CREATE TABLE IF NOT EXISTS custom_fields(object_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT,
  PRIMARY KEY (object_id, name));
CREATE TABLE IF NOT EXISTS group_members(group_name TEXT NOT NULL, object_id TEXT NOT NULL,
  PRIMARY KEY (group_name, object_id));
`

// Values as the mapping reads them (LocalValue): what SQLite would give. Booleans as 1 / 0,
// 64-bit integers as numbers (bigint past 2^53), dates and times as the server's text.
const TYPE_OIDS = { bool: 16, int8: 20, date: 1082, timestamp: 1114, timestamptz: 1184 }
export const types: pg.CustomTypesConfig = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown {
    switch (oid) {
      case TYPE_OIDS.bool:
        return (text: string) => (text === 't' ? 1 : 0)
      case TYPE_OIDS.int8:
        return (text: string) => {
          const number = Number(text)
          return Number.isSafeInteger(number) ? number : BigInt(text)
        }
      case TYPE_OIDS.date:
      case TYPE_OIDS.timestamp:
      case TYPE_OIDS.timestamptz:
        return (text: string) => text
      default:
        return pg.types.getTypeParser(oid, format) as (text: string) => unknown
    }
  },
}

/** The URL without its password, to show and log. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(a PostgreSQL URL that does not parse)'
  }
}

/** Creates (or completes) the default schema in the database at `url`. */
export async function createPostgresSchema(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, types })
  try {
    await client.connect()
    await client.query(DEFAULT_POSTGRES_SCHEMA)
  } catch (error) {
    throw new ObjectSyncError(
      'LOCAL_SYSTEM_IO',
      `could not make the default schema in PostgreSQL ${redactedUrl(url)}: ${messageOf(error)}`,
      { cause: error },
    )
  } finally {
    await client.end().catch(() => {})
  }
}

/** The type of `entity`'s key column (for arrays of keys); throws when there is none. */
export async function keyColumnType(
  pool: pg.Pool,
  entity: EntityMapping,
  description: string,
): Promise<string> {
  const { rows } = await pool.query<{ type: string }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
     WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`,
    [quote(entity.table), entity.key],
  )
  const found = rows[0]?.type
  if (found === undefined) {
    throw new ObjectSyncError(
      'LOCAL_SYSTEM_IO',
      `${description} has no table ${entity.table} with a column ${entity.key}`,
    )
  }
  return found
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
