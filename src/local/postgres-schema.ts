// The PostgreSQL local system's default schema, how its values read (as SQLite's do),
// and its URL as shown (without a password).
import pg from 'pg'
import { ObjectSyncError } from '../errors.ts'
import type { EntityMapping } from './mapping/index.ts'
import { DEFAULT_SCHEMA } from './sqlite-schema.ts'
import { quote } from './sql-names.ts'

/**
 * The default schema of INTERFACE.md: SQLite's, the same tables, columns and types, with
 * file contents as BYTEA (PostgreSQL's bytes) rather than BLOB.
 */
export const DEFAULT_POSTGRES_SCHEMA = DEFAULT_SCHEMA.replace('content BLOB', 'content BYTEA')

// Values as the mapping reads them (LocalValue): what SQLite would give. Integers and
// floats as numbers (a 64-bit integer past 2^53 as a bigint), booleans as 1 / 0, bytes as
// a Buffer, and everything else as the server's text (numeric keeps its digits; json,
// arrays, dates and times as written, dates in ISO form: see SESSION_SETTINGS).
const OIDS = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  float4: 700,
  float8: 701,
}
const text = (value: string) => value
export const types: pg.CustomTypesConfig = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown {
    switch (oid) {
      case OIDS.bool:
        return (value: string) => (value === 't' ? 1 : 0)
      case OIDS.int8:
        return (value: string) => {
          const number = Number(value)
          return Number.isSafeInteger(number) ? number : BigInt(value)
        }
      case OIDS.int2:
      case OIDS.int4:
      case OIDS.oid:
      case OIDS.float4:
      case OIDS.float8:
        return Number
      case OIDS.bytea:
        return pg.types.getTypeParser(oid, format) as (text: string) => unknown
      default:
        return text
    }
  },
}

/** Every connection's settings: dates and times read the same whatever the server's defaults. */
export const SESSION_SETTINGS = '-c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c TimeZone=UTC'

/** node-postgres settings for `url`: our value types, session settings and time limits. */
export function clientConfig(url: string): pg.ClientConfig {
  return {
    connectionString: url,
    types,
    options: SESSION_SETTINGS,
    // A server that stops answering (a cut, not a refusal) fails the call rather than
    // holding the daemon's queue; a lock held elsewhere for long does the same.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    statement_timeout: 60_000,
    lock_timeout: 30_000,
  }
}

const PASSWORD_PARAMETERS = ['password', 'sslpassword']

/** Whether the URL holds a password (after the user name, or as a query parameter). */
export function urlHasPassword(url: string): boolean {
  try {
    const parsed = new URL(url)
    return (
      parsed.password !== '' || PASSWORD_PARAMETERS.some((name) => parsed.searchParams.has(name))
    )
  } catch {
    return false
  }
}

/** The URL without its password, to show and log. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    for (const name of PASSWORD_PARAMETERS) {
      if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***')
    }
    return parsed.toString()
  } catch {
    return '(a PostgreSQL URL that does not parse)'
  }
}

/** Creates (or completes) the default schema in the database at `url`. */
export async function createPostgresSchema(url: string): Promise<void> {
  const client = new pg.Client(clientConfig(url))
  client.on('error', () => {}) // a lost connection fails the query below
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

/** A mapped table's key column: its type, and whether the database gives new rows theirs. */
export interface KeyColumn {
  type: string
  /** Not text: the daemon's new rows get their key from the column's default. */
  assigned: boolean
  /** GENERATED ALWAYS AS IDENTITY: a row inserted with its key says it overrides it. */
  alwaysIdentity: boolean
}

/**
 * `entity`'s key column; throws when there is none, or when it is not text and has no
 * default (the daemon could give its new rows no key).
 */
export async function keyColumn(
  pool: pg.Pool,
  entity: EntityMapping,
  description: string,
): Promise<KeyColumn> {
  // A string type (text, varchar, char, citext, a domain over one) holds an object's id.
  const { rows } = await pool.query<{
    type: string
    text: boolean
    generated: boolean
    always: boolean
  }>(
    `SELECT format_type(a.atttypid, NULL) AS type, t.typcategory = 'S' AS text,
       (a.attidentity <> '' OR a.atthasdef) AS generated, a.attidentity = 'a' AS always
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`,
    [quote(entity.table), entity.key],
  )
  const found = rows[0]
  if (found === undefined) {
    throw new ObjectSyncError(
      'LOCAL_SYSTEM_IO',
      `${description} has no table ${entity.table} with a column ${entity.key}`,
    )
  }
  const assigned = !found.text
  if (assigned && !found.generated) {
    throw new ObjectSyncError(
      'LOCAL_SYSTEM_IO',
      `${description}: ${entity.table}.${entity.key} is ${found.type} with no default, so the rows ` +
        `objectsync inserts could have no key: give it one (GENERATED BY DEFAULT AS IDENTITY, a ` +
        `sequence) or map a text key column`,
    )
  }
  return { type: found.type, assigned, alwaysIdentity: found.always }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
