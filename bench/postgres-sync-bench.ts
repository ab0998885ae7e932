// PostgreSQL as a local system, whole path, on a throwaway server of this machine (Debian's
// postgresql, as the tests use): the two processes of sync-bench.ts, one beside a
// PostgreSQL database and one beside a SQLite file, both ways. PostgreSQL → SQLite: N
// persons inserted in A's database before A starts, timed from A's first run until B's
// table holds every row, then SQL edits at A (UPDATE on a connection of this process)
// timed until B's row shows them. SQLite → PostgreSQL: the same N in A's file, until B's
// database holds every row. Each side's daemon is polled as the real one is: SQLite every
// 50 ms, PostgreSQL woken by NOTIFY at each commit (polled every 2 s as a fallback).
import type Database from 'better-sqlite3'
import pg from 'pg'
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.ts'
import { person } from './people.ts'
import { withSqlPeers, type SqlPeers } from './sql-peers.ts'
import { stopPeers } from './sync-processes.ts'

export interface PostgresSyncBenchResult {
  pgPersons: number
  /** PostgreSQL at A → SQLite at B: A's first run taking the N rows in. */
  pgToSqliteIngestSecondsA: number
  /** From B's dial until B's persons table holds N rows. */
  pgToSqliteRowsAtBSeconds: number
  /** Ingest at A plus dial to rows at B: N rows in A's database to N rows in B's file. */
  pgToSqliteFirstSyncSeconds: number
  pgToSqlitePeakRssMbA: number
  pgToSqlitePeakRssMbB: number
  /** An UPDATE at A's database to the new value read in B's file. */
  pgToSqliteEditP50Ms: number
  pgToSqliteEditP99Ms: number
  pgToSqliteEditsMeasured: number
  /** SQLite at A → PostgreSQL at B: the same, the other way. */
  sqliteToPgIngestSecondsA: number
  sqliteToPgRowsAtBSeconds: number
  sqliteToPgFirstSyncSeconds: number
  sqliteToPgPeakRssMbA: number
  sqliteToPgPeakRssMbB: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const SQLITE_POLL_MS = 50
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Both directions on one throwaway server (started and removed here). */
export async function runPostgresSyncBench(
  count: number,
  options: { edits?: number } = {},
): Promise<PostgresSyncBenchResult> {
  const server = await startPostgres()
  try {
    const toSqlite = await postgresToSqlite(server, count, options.edits ?? 1000)
    const toPostgres = await sqliteToPostgres(server, count)
    return { pgPersons: count, ...toSqlite, ...toPostgres }
  } finally {
    await server.stop()
  }
}

async function postgresToSqlite(server: TestPostgres, count: number, edits: number) {
  const url = await server.createDatabase()
  const setup = {
    prefix: 'objectsync-bench-pg-',
    personsAtA: count,
    expectAtB: count,
    pollMs: SQLITE_POLL_MS,
    postgresA: url,
  }
  return withSqlPeers(setup, async (sql) => {
    const readB = sql.connect(sql.fileB)
    const rowsAtB = readB.prepare('SELECT count(*) FROM persons').pluck()
    await until(sql, () => Promise.resolve((rowsAtB.get() as number) >= count))
    const rowsSeconds = (Date.now() - sql.dialed) / 1000
    const latencies = await timeEdits(sql, url, readB, count, edits)
    const rss = await stopPeers(sql.peers)
    const sorted = [...latencies].sort((x, y) => x - y)
    return {
      pgToSqliteIngestSecondsA: sql.ingestSecondsA,
      pgToSqliteRowsAtBSeconds: round(rowsSeconds),
      pgToSqliteFirstSyncSeconds: round(sql.ingestSecondsA + rowsSeconds),
      pgToSqlitePeakRssMbA: rss.rssA,
      pgToSqlitePeakRssMbB: rss.rssB,
      pgToSqliteEditP50Ms: sorted.length === 0 ? NaN : round(quantile(sorted, 0.5), 1),
      pgToSqliteEditP99Ms: sorted.length === 0 ? NaN : round(quantile(sorted, 0.99), 1),
      pgToSqliteEditsMeasured: sorted.length,
    }
  })
}

async function sqliteToPostgres(server: TestPostgres, count: number) {
  const url = await server.createDatabase()
  const setup = {
    prefix: 'objectsync-bench-pg-',
    personsAtA: count,
    expectAtB: count,
    pollMs: SQLITE_POLL_MS,
    postgresB: url,
  }
  return withSqlPeers(setup, async (sql) => {
    const readB = new pg.Client({ connectionString: url })
    await readB.connect()
    try {
      const rowsAtB = async () =>
        Number((await readB.query<{ n: string }>('SELECT count(*) AS n FROM persons')).rows[0]!.n)
      await until(sql, async () => (await rowsAtB()) >= count)
      const rowsSeconds = (Date.now() - sql.dialed) / 1000
      const rss = await stopPeers(sql.peers)
      return {
        sqliteToPgIngestSecondsA: sql.ingestSecondsA,
        sqliteToPgRowsAtBSeconds: round(rowsSeconds),
        sqliteToPgFirstSyncSeconds: round(sql.ingestSecondsA + rowsSeconds),
        sqliteToPgPeakRssMbA: rss.rssA,
        sqliteToPgPeakRssMbB: rss.rssB,
      }
    } finally {
      await readB.end()
    }
  })
}

/** Polls `done` every 100 ms until it holds; fails when a side exits or after 10 minutes. */
async function until(sql: SqlPeers, done: () => Promise<boolean>): Promise<void> {
  const began = Date.now()
  while (!(await done())) {
    if (sql.peers.a.child.exitCode !== null || sql.peers.b.child.exitCode !== null) {
      throw new Error('a peer exited before B held every row')
    }
    if (Date.now() - began > 600_000) throw new Error('B did not hold every row within 10 min')
    await sleep(100)
  }
}

/**
 * `edits` UPDATEs of one person's email in A's database, one at a time, each timed until
 * B's row shows it (read every 2 ms), with a random pause of up to 50 ms after each.
 */
async function timeEdits(
  sql: SqlPeers,
  url: string,
  readB: Database.Database,
  count: number,
  edits: number,
): Promise<number[]> {
  // A's row p<i> is B's row keyed by the object's id; last names are unique.
  const keyAtB = new Map(
    (
      readB.prepare('SELECT last_name, id FROM persons').all() as {
        last_name: string
        id: string
      }[]
    ).map((row) => [row.last_name, row.id]),
  )
  const emailAtB = readB.prepare('SELECT email FROM persons WHERE id = ?').pluck()
  const writeA = new pg.Client({ connectionString: url })
  await writeA.connect()
  const latencies: number[] = []
  try {
    for (let k = 0; k < edits; k++) {
      const i = k % count
      const target = keyAtB.get(person(i).lastName as string)
      if (target === undefined) throw new Error(`no row at B for p${i}`)
      const email = `edit.${k}.${i}@example.org`
      const began = performance.now()
      await writeA.query('UPDATE persons SET email = $1 WHERE id = $2', [email, `p${i}`])
      for (;;) {
        const now = performance.now()
        if (emailAtB.get(target) === email) {
          latencies.push(now - began)
          break
        }
        if (now - began > 30_000) throw new Error(`edit ${k} (p${i}) not at B within 30 s`)
        if (sql.peers.a.child.exitCode !== null) throw new Error('A exited during the edits')
        await sleep(2)
      }
      await sleep(Math.random() * SQLITE_POLL_MS)
    }
  } finally {
    await writeA.end()
  }
  return latencies
}
