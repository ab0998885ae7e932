// How a PostgreSQL local system reports its changes: a trigger on every mapped table
// writes each changed row's table, key, time and transaction into `_objectsync_changes`,
// whoever changed it, daemon running or not, and wakes a listening daemon (NOTIFY, sent
// at commit). No superuser, no `wal_level` change: plain tables, functions and triggers.
//
// The order of the log. A sequence number is taken when a row is logged, not when its
// transaction commits: a transaction still open can commit an entry numbered below one
// already read, and a reader whose cursor moved past that number would never see it.
// So the daemon hands out the positions it reads by itself ("claims", one at a time
// under a row lock): each entry committed by then gets the next position, in the order
// of its number, and an entry committed later gets a later position. The log's own
// numbers only order the entries of one claim. A transaction left open elsewhere holds
// nothing back.
import { createHash } from 'node:crypto'
import type pg from 'pg'
import { KEYS_TABLE } from './assigned-keys.ts'
import { quote } from './sql-names.ts'

export const CHANGES_TABLE = '_objectsync_changes'
/** One row: the last position handed out (a log made anew starts over at 0). */
export const CLAIMED_TABLE = '_objectsync_claimed'
export const NOTIFY_CHANNEL = 'objectsync_changes'
const TRIGGER_PREFIX = '_objectsync_log_'
/** PostgreSQL keeps the first 63 bytes of a name. */
const MAX_NAME_BYTES = 63

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`

/** A table whose rows are logged, and its key column. */
export interface CapturedTable {
  table: string
  key: string
}

/**
 * The trigger's (and its function's) name for `table`: the prefix and the table's name,
 * or, where that would pass PostgreSQL's 63 bytes (and be cut, two tables then sharing
 * it), the prefix, a part of the name and a hash of all of it.
 */
export function triggerName(table: string): string {
  const name = `${TRIGGER_PREFIX}${table}`
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return name
  const hash = createHash('sha256').update(table).digest('hex').slice(0, 12)
  let part = table
  while (Buffer.byteLength(`${TRIGGER_PREFIX}${part}_${hash}`) > MAX_NAME_BYTES) {
    part = part.slice(0, -1)
  }
  return `${TRIGGER_PREFIX}${part}_${hash}`
}

/** The change log, and the table of the keys the database gave (in the caller's transaction). */
async function createLogTables(client: pg.PoolClient): Promise<void> {
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${CHANGES_TABLE}(
         seq bigserial PRIMARY KEY,
         -- The writing transaction: the daemon removes its own writes' entries by it.
         xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
         table_name text NOT NULL,
         row_key text NOT NULL,
         changed_at bigint NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
         position bigint)`,
  )
  await client.query(
    `CREATE INDEX IF NOT EXISTS ${CHANGES_TABLE}_position ON ${CHANGES_TABLE}(position)`,
  )
  await client.query(`CREATE INDEX IF NOT EXISTS ${CHANGES_TABLE}_xid ON ${CHANGES_TABLE}(xid)`)
  // Which object each row the daemon inserted with a key the database gave stands for
  // (assigned-keys.ts). Not logged: it is the daemon's own.
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${KEYS_TABLE}(table_name text NOT NULL, object_id text NOT NULL,
         row_key text NOT NULL, PRIMARY KEY (table_name, object_id))`,
  )
  await client.query(
    `CREATE INDEX IF NOT EXISTS ${KEYS_TABLE}_row ON ${KEYS_TABLE}(table_name, row_key)`,
  )
}

/** Makes the log and every table's trigger, in one transaction; `client` is the caller's. */
export async function installCapture(
  client: pg.PoolClient,
  tables: readonly CapturedTable[],
): Promise<void> {
  await client.query('BEGIN')
  try {
    // Two daemons (or a daemon and its `init`) making it at once must not both create it.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext(${literal(CHANGES_TABLE)}))`)
    await createLogTables(client)
    // `truncated`: a mapped table was emptied by TRUNCATE, which logs no rows (below).
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${CLAIMED_TABLE}(last bigint NOT NULL, truncated boolean NOT NULL DEFAULT false)`,
    )
    await client.query(
      `INSERT INTO ${CLAIMED_TABLE}(last) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM ${CLAIMED_TABLE})`,
    )
    // The functions write the log where it is now, whatever the writer's search_path, and
    // as the daemon's role (SECURITY DEFINER): the CRM's own role needs no right on it.
    const schema = (await client.query<{ schema: string }>('SELECT current_schema() AS schema'))
      .rows[0]!.schema
    const log = `${quote(schema)}.${CHANGES_TABLE}`
    const claimed = `${quote(schema)}.${CLAIMED_TABLE}`
    const keys = `${quote(schema)}.${KEYS_TABLE}`
    const definer = `SECURITY DEFINER SET search_path = pg_catalog, pg_temp`
    await client.query(
      `CREATE OR REPLACE FUNCTION ${quote(schema)}._objectsync_truncated() RETURNS trigger
       LANGUAGE plpgsql ${definer} AS $body$
       BEGIN
         UPDATE ${claimed} SET truncated = true;
         PERFORM pg_notify(${literal(NOTIFY_CHANNEL)}, '');
         RETURN NULL;
       END $body$`,
    )
    for (const { table, key } of tables) {
      const name = triggerName(table)
      const function_ = `${quote(schema)}.${quote(name)}`
      // A row without a key (NULL) is not logged: nothing names it, and the other program's
      // write must not fail on the log's NOT NULL.
      const entry = (row: 'NEW' | 'OLD') =>
        `IF ${row}.${quote(key)} IS NOT NULL THEN INSERT INTO ${log}(table_name, row_key) VALUES (${literal(table)}, ${row}.${quote(key)}::text); END IF;`
      await client.query(
        `CREATE OR REPLACE FUNCTION ${function_}() RETURNS trigger
         LANGUAGE plpgsql ${definer} AS $body$
         BEGIN
           IF TG_OP <> 'INSERT' THEN ${entry('OLD')} END IF;
           -- A row gone, by whoever: no object is remembered for its key.
           IF TG_OP = 'DELETE' THEN
             DELETE FROM ${keys} WHERE table_name = ${literal(table)} AND row_key = OLD.${quote(key)}::text;
           END IF;
           IF TG_OP <> 'DELETE' THEN ${entry('NEW')} END IF;
           PERFORM pg_notify(${literal(NOTIFY_CHANNEL)}, '');
           RETURN NULL;
         END $body$`,
      )
      const truncate = quote(`${name}_t`)
      await client.query(`DROP TRIGGER IF EXISTS ${quote(name)} ON ${quote(table)}`)
      await client.query(`DROP TRIGGER IF EXISTS ${truncate} ON ${quote(table)}`)
      await client.query(
        `CREATE TRIGGER ${quote(name)} AFTER INSERT OR UPDATE OR DELETE ON ${quote(table)}
         FOR EACH ROW EXECUTE FUNCTION ${function_}()`,
      )
      await client.query(
        `CREATE TRIGGER ${truncate} AFTER TRUNCATE ON ${quote(table)}
         FOR EACH STATEMENT EXECUTE FUNCTION ${quote(schema)}._objectsync_truncated()`,
      )
      // Fired also where ordinary triggers are not (session_replication_role = replica:
      // logical replication's apply, pg_restore --disable-triggers' sessions).
      await client.query(`ALTER TABLE ${quote(table)} ENABLE ALWAYS TRIGGER ${quote(name)}`)
      await client.query(`ALTER TABLE ${quote(table)} ENABLE ALWAYS TRIGGER ${truncate}`)
    }
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}

/**
 * What of the change capture is missing now: the log, some trigger (or one disabled), or
 * nothing; a TRUNCATE since the last look counts as 'triggers' (every table is then
 * compared with what was last seen), and the flag is cleared.
 */
export async function missingCapture(
  client: pg.PoolClient | pg.Pool,
  tables: readonly CapturedTable[],
): Promise<'intact' | 'triggers' | 'log'> {
  const { rows } = await client.query<{ log: string | null; claimed: string | null }>(
    `SELECT to_regclass(${literal(CHANGES_TABLE)})::text AS log,
            to_regclass(${literal(CLAIMED_TABLE)})::text AS claimed`,
  )
  if (rows[0]?.log === null || rows[0]?.claimed === null) return 'log'
  const names = tables.flatMap(({ table }) => [triggerName(table), `${triggerName(table)}_t`])
  const relations = tables.flatMap(({ table }) => [quote(table), quote(table)])
  const found = await client.query<{ present: number }>(
    `SELECT count(*)::int AS present FROM unnest($1::text[], $2::text[]) AS wanted(name, relation)
     JOIN pg_trigger t ON t.tgrelid = to_regclass(wanted.relation) AND t.tgname = wanted.name
     WHERE t.tgenabled = 'A'`,
    [names, relations],
  )
  if ((found.rows[0]?.present ?? 0) !== names.length) return 'triggers'
  const truncated = await client.query(
    `UPDATE ${CLAIMED_TABLE} SET truncated = false WHERE truncated RETURNING 1`,
  )
  return (truncated.rowCount ?? 0) > 0 ? 'triggers' : 'intact'
}

/**
 * Gives positions to the entries committed so far and not yet claimed (see the top of
 * this file), in one transaction of `client`. Returns the last position handed out.
 */
export async function claimChanges(client: pg.PoolClient): Promise<number> {
  await client.query('BEGIN')
  try {
    // Never below a position handed out already (a claimed table restored from an older
    // backup beside a newer log): positions must not repeat.
    const claimed = await client.query<{ last: string }>(
      `SELECT GREATEST(last, (SELECT COALESCE(max(position), 0) FROM ${CHANGES_TABLE})) AS last
       FROM ${CLAIMED_TABLE} FOR UPDATE`,
    )
    const last = Number(claimed.rows[0]?.last ?? 0)
    const given = await client.query(
      `WITH ready AS (
         SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM ${CHANGES_TABLE}
         WHERE position IS NULL)
       UPDATE ${CHANGES_TABLE} c SET position = $1::bigint + ready.n
       FROM ready WHERE c.seq = ready.seq`,
      [last],
    )
    const next = last + (given.rowCount ?? 0)
    await client.query(`UPDATE ${CLAIMED_TABLE} SET last = $1 WHERE last <> $1`, [next])
    await client.query('COMMIT')
    return next
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}
