// The whole-path first-sync benchmark: the two processes of sync-bench.ts, each with its
// SQLite local system; this process is "another program" writing A's file and reading
// B's with plain SQL on connections of its own. Phases: A's rows written, the processes
// started, the first sync timed, edits timed one by one, a bulk edit and a catch-up
// timed, B's rows compared with A's.
import type Database from 'better-sqlite3'
import { person } from './people.ts'
import { withSqlPeers, type SqlPeers } from './sql-peers.ts'
import { pollUntil, stopPeers } from './sync-processes.ts'

/** SQLite to SQLite: rows written with SQL at A, read with SQL at B. */
export interface SqlSyncBenchResult {
  sqlPersons: number
  /** The LocalSync poll interval on both sides (ms). */
  sqlPollMs: number
  /** A's first run: LocalSync.start() taking in the N rows (and projecting them back). */
  sqlIngestSecondsA: number
  /** From B's dial until B's store holds all N and A has said it is caught up. */
  sqlStoreSyncSeconds: number
  /** From B's dial until B's persons table holds N rows. */
  sqlRowsAtBSeconds: number
  /** Ingest at A plus dial to rows at B: N rows in A's table to N rows in B's. */
  sqlFirstSyncSeconds: number
  sqlRowsPerSecond: number
  /** From B's dial until, as well, both change logs are empty (B has read its own writes back). */
  sqlSettledSeconds: number
  /** B's persons table after the edits: its rows, and those equal to A's row. */
  sqlRowsAtB: number
  sqlRowsSameAtB: number
  sqlPeakRssMbA: number
  sqlPeakRssMbB: number
  /** An UPDATE at A (separate connection) to the new value read at B (separate connection). */
  sqlEditLatencyP50Ms: number
  sqlEditLatencyP99Ms: number
  /** Of that, the UPDATE until A's daemon has it in its store (its change log trimmed). */
  sqlEditTakenInP50Ms: number
  sqlEditsMeasured: number
  /** Rows updated at A in one SQL transaction (up to 20,000), and until all show at B. */
  sqlBulkEditRows: number
  sqlBulkEditSeconds: number
  /**
   * Catch-up: rows updated at A (up to 40,000, one UPDATE) while B was stopped; from B's
   * dial after its restart until its store is caught up, and until its table shows them.
   */
  sqlCatchUpRows: number
  sqlCatchUpStoreSeconds: number
  sqlCatchUpRowsSeconds: number
}

export interface SqlSyncBenchOptions {
  /** Sequential edits timed after the first sync (default 1,000). */
  edits?: number
  /** LocalSync's poll interval on both sides (default 50 ms). */
  pollMs?: number
  /** Time a bulk edit, then a catch-up after B was stopped, at the end (default true). */
  bulkEdit?: boolean
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/**
 * SQLite to SQLite. A's local.db holds N persons (inserted with SQL before A starts; its
 * first run takes them in), B's is empty; B dials A, and the clock runs until B's persons
 * table holds N rows (read every 100 ms on a connection of this process), then until both
 * daemons have read their change logs empty. Then `edits` UPDATEs of one person's email at
 * A, one at a time, each timed until B's row shows it (read every 2 ms); after each, a
 * random pause of up to one poll interval, so that edits fall anywhere in A's poll cycle,
 * as a person's would. Then one UPDATE of up to 20,000 rows at A, until B shows them all;
 * last, up to 40,000 rows changed at A while B is stopped, until B has caught up.
 */
export async function runSqlSyncBench(
  count: number,
  options: SqlSyncBenchOptions = {},
): Promise<SqlSyncBenchResult> {
  const edits = options.edits ?? 1000
  const pollMs = options.pollMs ?? 50
  const setup = { prefix: 'objectsync-bench-sql-', personsAtA: count, expectAtB: count, pollMs }
  return withSqlPeers(setup, async (sql) => {
    const firstSync = await timeFirstSync(sql, count)
    const editTimes = await timeEdits({ ...firstSync, sql, count, edits, pollMs })
    const bulk =
      options.bulkEdit === false
        ? { rows: 0, seconds: NaN }
        : await timeBulkEdit(sql, firstSync.readB, Math.min(count, BULK_EDIT_ROWS))
    const catchUp =
      options.bulkEdit === false
        ? { rows: 0, storeSeconds: NaN, rowsSeconds: NaN, rssB: 0 }
        : await timeCatchUp(sql, firstSync.readB, Math.min(count, CATCH_UP_ROWS))
    const rows = compareRows(firstSync.readA, firstSync.readB)
    const stopped = await stopPeers(sql.peers)
    const rss = { ...stopped, rssB: Math.max(stopped.rssB, catchUp.rssB) }
    const ingestSeconds = sql.ingestSecondsA
    return {
      ...sqlResult({ count, pollMs, ingestSeconds, firstSync, editTimes, rows, rss }),
      sqlBulkEditRows: bulk.rows,
      sqlBulkEditSeconds: Math.round(bulk.seconds * 100) / 100,
      sqlCatchUpRows: catchUp.rows,
      sqlCatchUpStoreSeconds: Math.round(catchUp.storeSeconds * 100) / 100,
      sqlCatchUpRowsSeconds: Math.round(catchUp.rowsSeconds * 100) / 100,
    }
  })
}

interface FirstSync {
  /** Seconds from B's dial: rows at B, B's store caught up, both change logs empty. */
  rowsSeconds: number
  storeSeconds: number
  settledSeconds: number
  readA: Database.Database
  readB: Database.Database
  logAtA: Database.Statement
}

/** From B's dial until B's table holds every row, its store is caught up, and both logs are read. */
async function timeFirstSync(sql: SqlPeers, count: number): Promise<FirstSync> {
  const { peers, dialed } = sql
  const synced = peers.b.next('synced ')
  synced.catch(() => undefined)
  const readB = sql.connect(sql.fileB)
  const rowsAtB = readB.prepare('SELECT count(*) FROM persons').pluck()
  await pollUntil(
    peers,
    () => (rowsAtB.get() as number) >= count,
    'a peer exited before B held every row',
  )
  const rowsSeconds = (Date.now() - dialed) / 1000
  const storeSeconds = await storeSyncSeconds(synced)
  // B reads its own writes back from its change log (and finds them its own); edits are
  // timed once both change logs are empty.
  const readA = sql.connect(sql.fileA)
  const logAtA = readA.prepare('SELECT count(*) FROM _objectsync_changes').pluck()
  const logAtB = readB.prepare('SELECT count(*) FROM _objectsync_changes').pluck()
  await pollUntil(
    peers,
    () => logAtB.get() === 0 && logAtA.get() === 0,
    'a peer exited before its change log was read',
  )
  const settledSeconds = (Date.now() - dialed) / 1000
  return { rowsSeconds, storeSeconds, settledSeconds, readA, readB, logAtA }
}

/** B's own figure for its store sync, from its `synced` line; NaN if it has not come in 10 s. */
async function storeSyncSeconds(synced: Promise<string>): Promise<number> {
  // B's store is caught up before its table is full, unless something is off.
  let timer: NodeJS.Timeout | undefined
  const seconds = Number(
    (
      await Promise.race([
        synced,
        new Promise<string>((resolve) => (timer = setTimeout(resolve, 10_000, 'synced NaN'))),
      ])
    )
      .slice('synced '.length)
      .split(' ')[0],
  )
  clearTimeout(timer)
  return seconds
}

/**
 * `edits` UPDATEs of one person's email at A, one at a time, each timed until B's row
 * shows it (read every 2 ms), with a random pause of up to one poll interval after each.
 */
async function timeEdits(run: {
  readB: Database.Database
  logAtA: Database.Statement
  sql: SqlPeers
  count: number
  edits: number
  pollMs: number
}): Promise<{ latencies: number[]; takenIn: number[] }> {
  const { readB, logAtA, count } = run
  // Edits: A's row p<i> is B's row keyed by the object's id; last names are unique.
  const keyAtB = new Map(
    (
      readB.prepare('SELECT last_name, id FROM persons').all() as {
        last_name: string
        id: string
      }[]
    ).map((row) => [row.last_name, row.id]),
  )
  const writeA = run.sql.connect(run.sql.fileA, { write: true })
  const update = writeA.prepare('UPDATE persons SET email = ? WHERE id = ?')
  const emailAtB = readB.prepare('SELECT email FROM persons WHERE id = ?').pluck()
  // A's daemon trims its change log once it has taken the edit into its store.
  const latencies: number[] = []
  const takenIn: number[] = []
  for (let k = 0; k < run.edits; k++) {
    const i = k % count
    const target = keyAtB.get(person(i).lastName as string)
    if (target === undefined) throw new Error(`no row at B for p${i}`)
    const email = `edit.${k}.${i}@example.org`
    const began = performance.now()
    update.run(email, `p${i}`)
    let atA: number | undefined
    for (;;) {
      const now = performance.now()
      if (atA === undefined && logAtA.get() === 0) atA = now - began
      if (emailAtB.get(target) === email) {
        latencies.push(now - began)
        takenIn.push(atA ?? now - began)
        break
      }
      if (now - began > 30_000) throw new Error(`edit ${k} (p${i}) not at B within 30 s`)
      await sleep(2)
    }
    await sleep(Math.random() * run.pollMs)
  }
  return { latencies, takenIn }
}

/** The rows of a bulk edit (or all, when fewer): bench:local's bulk edits too. */
export const BULK_EDIT_ROWS = 20_000
/** One UPDATE of the first rows' titles (parameters: the title, how many rows). */
export const BULK_EDIT_SQL = `UPDATE persons SET title = ? WHERE id IN (SELECT id FROM persons ORDER BY id LIMIT ?)`
/**
 * How often B's rows are counted during the bulk edit and the catch-up: a count reads the
 * whole table (≈ 4 ms at 100,000 rows), which every 20 ms took a fifth of a core from the
 * daemons being timed.
 */
const COUNT_EVERY_MS = 50

/**
 * One UPDATE of `rows` persons' titles at A (one SQL transaction, as a bulk edit in a CRM
 * would be), timed until B's table shows every one (counted every 50 ms).
 */
async function timeBulkEdit(
  sql: SqlPeers,
  readB: Database.Database,
  rows: number,
): Promise<{ rows: number; seconds: number }> {
  const writeA = sql.connect(sql.fileA, { write: true })
  const title = `bulk ${Date.now()}`
  const done = readB.prepare('SELECT count(*) FROM persons WHERE title = ?').pluck()
  const began = performance.now()
  writeA.prepare(BULK_EDIT_SQL).run(title, rows)
  const logAtA = writeA.prepare('SELECT count(*) FROM _objectsync_changes').pluck()
  let lastTrace = 0
  while ((done.get(title) as number) < rows) {
    if (process.env.BENCH_TRACE && performance.now() - lastTrace > 1000) {
      lastTrace = performance.now()
      console.error(
        `${((lastTrace - began) / 1000).toFixed(1)} s: log at A ${logAtA.get() as number}, rows at B ${done.get(title) as number}`,
      )
    }
    if (sql.peers.a.child.exitCode !== null || sql.peers.b.child.exitCode !== null) {
      throw new Error('a peer exited during the bulk edit')
    }
    if (performance.now() - began > 600_000) throw new Error('bulk edit not at B within 600 s')
    await sleep(COUNT_EVERY_MS)
  }
  return { rows, seconds: (performance.now() - began) / 1000 }
}

const CATCH_UP_ROWS = 40_000

/**
 * B stopped; `rows` persons' phones changed at A in one UPDATE and taken into A's store
 * (its change log read empty); B started again. Timed from B's dial: its own `synced`
 * (store caught up, NaN if not within 10 min) and until its table shows every change.
 */
async function timeCatchUp(
  sql: SqlPeers,
  readB: Database.Database,
  rows: number,
): Promise<{ rows: number; storeSeconds: number; rowsSeconds: number; rssB: number }> {
  const rssB = await sql.stopB()
  const writeA = sql.connect(sql.fileA, { write: true })
  const phone = `+47 ${Date.now()}`
  writeA
    .prepare(
      `UPDATE persons SET phone = ? WHERE id IN (SELECT id FROM persons ORDER BY id LIMIT ?)`,
    )
    .run(phone, rows)
  const logAtA = writeA.prepare('SELECT count(*) FROM _objectsync_changes').pluck()
  while ((logAtA.get() as number) > 0) await sleep(20)
  const dialed = await sql.startB()
  const synced = sql.peers.b.next('synced ')
  synced.catch(() => undefined)
  const done = readB.prepare('SELECT count(*) FROM persons WHERE phone = ?').pluck()
  while ((done.get(phone) as number) < rows) {
    if (sql.peers.a.child.exitCode !== null || sql.peers.b.child.exitCode !== null) {
      throw new Error('a peer exited during the catch-up')
    }
    if (Date.now() - dialed > 600_000) throw new Error('catch-up not at B within 600 s')
    await sleep(COUNT_EVERY_MS)
  }
  const rowsSeconds = (Date.now() - dialed) / 1000
  let timer: NodeJS.Timeout | undefined
  const line = await Promise.race([
    synced,
    new Promise<string>((resolve) => (timer = setTimeout(resolve, 600_000, 'synced NaN'))),
  ])
  clearTimeout(timer)
  const storeSeconds = Number(line.slice('synced '.length).split(' ')[0])
  return { rows, storeSeconds, rowsSeconds, rssB }
}

/** Every row at B as it is at A (the columns the benchmark wrote), matched on last name. */
function compareRows(
  readA: Database.Database,
  readB: Database.Database,
): { rowsAtB: number; sameAtB: number } {
  const columns = 'first_name, last_name, email, phone, birthday, title, role'
  const rowsAtA = new Map(
    (readA.prepare(`SELECT ${columns} FROM persons`).all() as { last_name: string }[]).map(
      (row) => [row.last_name, JSON.stringify(row)],
    ),
  )
  const finalAtB = readB.prepare(`SELECT ${columns} FROM persons`).all() as {
    last_name: string
  }[]
  const sameAtB = finalAtB.filter(
    (row) => rowsAtA.get(row.last_name) === JSON.stringify(row),
  ).length
  return { rowsAtB: finalAtB.length, sameAtB }
}

function sqlResult(run: {
  count: number
  pollMs: number
  ingestSeconds: number
  firstSync: FirstSync
  editTimes: { latencies: number[]; takenIn: number[] }
  rows: { rowsAtB: number; sameAtB: number }
  rss: { rssA: number; rssB: number }
}): Omit<SqlSyncBenchResult, `sqlBulkEdit${string}` | `sqlCatchUp${string}`> {
  const { count, ingestSeconds, firstSync } = run
  const sorted = [...run.editTimes.latencies].sort((x, y) => x - y)
  const sortedTakenIn = [...run.editTimes.takenIn].sort((x, y) => x - y)
  const ms = (value: number) => Math.round(value * 10) / 10
  // A's rows in its table to the same rows in B's: A's first run, then the sync.
  const firstSyncSeconds = ingestSeconds + firstSync.rowsSeconds
  return {
    sqlPersons: count,
    sqlPollMs: run.pollMs,
    sqlIngestSecondsA: ingestSeconds,
    sqlStoreSyncSeconds: firstSync.storeSeconds,
    sqlRowsAtBSeconds: Math.round(firstSync.rowsSeconds * 100) / 100,
    sqlFirstSyncSeconds: Math.round(firstSyncSeconds * 100) / 100,
    sqlRowsPerSecond: Math.round(count / firstSyncSeconds),
    sqlSettledSeconds: Math.round(firstSync.settledSeconds * 100) / 100,
    sqlRowsAtB: run.rows.rowsAtB,
    sqlRowsSameAtB: run.rows.sameAtB,
    sqlPeakRssMbA: run.rss.rssA,
    sqlPeakRssMbB: run.rss.rssB,
    sqlEditLatencyP50Ms: sorted.length === 0 ? NaN : ms(quantile(sorted, 0.5)),
    sqlEditLatencyP99Ms: sorted.length === 0 ? NaN : ms(quantile(sorted, 0.99)),
    sqlEditTakenInP50Ms: sorted.length === 0 ? NaN : ms(quantile(sortedTakenIn, 0.5)),
    sqlEditsMeasured: sorted.length,
  }
}
