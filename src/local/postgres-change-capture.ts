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
import type pg from 'pg'

export const CHANGES_TABLE = '_objectsync_changes'
/** One row: the last position handed out (a log made anew starts over at 0). */
export const CLAIMED_TABLE = '_objectsync_claimed'
export const NOTIFY_CHANNEL = 'objectsync_changes'
const TRIGGER_PREFIX = '_objectsync_log_'

export const quote = (name: string) => `"${name.replaceAll('"', '""')}"`
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`

/** A table whose rows are logged, and its key column. */
export interface CapturedTable {
  table: string
  key: string
}

const triggerName = (table: string) => `${TRIGGER_PREFIX}${table}`

/** Makes the log and every table's trigger, in one transaction; `client` is the caller's. */
export async function installCapture(
  client: pg.PoolClient,
  tables: readonly CapturedTable[],
): Promise<void> {
  await client.query('BEGIN')
  try {
    // Two daemons (or a daemon and its `init`) making it at once must not both create it.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext(${literal(CHANGES_TABLE)}))`)
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
    await client.query(`CREATE TABLE IF NOT EXISTS ${CLAIMED_TABLE}(last bigint NOT NULL)`)
    await client.query(
      `INSERT INTO ${CLAIMED_TABLE}(last) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM ${CLAIMED_TABLE})`,
    )
    for (const { table, key } of tables) {
      const name = triggerName(table)
      const log = (row: 'NEW' | 'OLD') =>
        `INSERT INTO ${CHANGES_TABLE}(table_name, row_key) VALUES (${literal(table)}, ${row}.${quote(key)}::text);`
      await client.query(
        `CREATE OR REPLACE FUNCTION ${quote(name)}() RETURNS trigger LANGUAGE plpgsql AS $body$
         BEGIN
           IF TG_OP <> 'INSERT' THEN ${log('OLD')} END IF;
           IF TG_OP <> 'DELETE' THEN ${log('NEW')} END IF;
           PERFORM pg_notify(${literal(NOTIFY_CHANNEL)}, '');
           RETURN NULL;
         END $body$`,
      )
      await client.query(`DROP TRIGGER IF EXISTS ${quote(name)} ON ${quote(table)}`)
      await client.query(
        `CREATE TRIGGER ${quote(name)} AFTER INSERT OR UPDATE OR DELETE ON ${quote(table)}
         FOR EACH ROW EXECUTE FUNCTION ${quote(name)}()`,
      )
    }
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}

/** What of the change capture is missing now: the log, some triggers, or nothing. */
export async function missingCapture(
  client: pg.PoolClient | pg.Pool,
  tables: readonly CapturedTable[],
): Promise<'intact' | 'triggers' | 'log'> {
  const { rows } = await client.query<{ log: string | null; claimed: string | null }>(
    `SELECT to_regclass(${literal(CHANGES_TABLE)})::text AS log,
            to_regclass(${literal(CLAIMED_TABLE)})::text AS claimed`,
  )
  if (rows[0]?.log === null || rows[0]?.claimed === null) return 'log'
  const found = await client.query<{ table_name: string }>(
    `SELECT c.relname AS table_name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgname = ${literal(TRIGGER_PREFIX)} || c.relname`,
  )
  const present = new Set(found.rows.map((row) => row.table_name))
  return tables.some(({ table }) => !present.has(table)) ? 'triggers' : 'intact'
}

/**
 * Gives positions to the entries committed so far and not yet claimed (see the top of
 * this file), in one transaction of `client`. Returns the last position handed out.
 */
export async function claimChanges(client: pg.PoolClient): Promise<number> {
  await client.query('BEGIN')
  try {
    const claimed = await client.query<{ last: string }>(
      `SELECT last FROM ${CLAIMED_TABLE} FOR UPDATE`,
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
    if (next !== last) await client.query(`UPDATE ${CLAIMED_TABLE} SET last = $1`, [next])
    await client.query('COMMIT')
    return next
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}
