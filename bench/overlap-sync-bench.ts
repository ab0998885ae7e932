// The first sync of two instances that already share people (issue 16): A's table holds
// N persons (rows `p<i>`), B's the first N/2 of the same persons under ids of its own
// (rows `b<i>`), each taken in by its own daemon's first run before B dials A. Matching
// must find every shared person on both sides, so that B ends with N rows, A keeps its N,
// and no person is in either table twice. Timed from B's dial until both sides have
// settled (each daemon says it is idle, and neither file changes any more); the rows and
// duplicates are then counted with SQL on both files, once the daemons have stopped.
import type Database from 'better-sqlite3'
import { withSqlPeers, type SqlPeers } from './sql-peers.ts'
import { pollUntil, stopPeers, type BenchPeer } from './sync-processes.ts'

export interface OverlapSyncBenchResult {
  overlapPersons: number
  /** Of them, in B's table before the sync (its own rows, under its own ids). */
  overlapPersonsAlreadyAtB: number
  /** Each side's first run, taking in its own rows. */
  overlapIngestSecondsA: number
  overlapIngestSecondsB: number
  /** From B's dial until B's persons table first holds N rows. */
  overlapRowsAtBSeconds: number
  /**
   * From B's dial until both sides are settled: each daemon has said it is idle, both
   * change logs are empty and neither file changes any more.
   */
  overlapFirstSyncSeconds: number
  /** Rows in each side's persons table at the end: N on both if every shared person was matched. */
  overlapPersonsAtA: number
  overlapPersonsAtB: number
  /** Rows that repeat another row's person, by email or by first and last name (whichever finds more). */
  overlapDuplicatesA: number
  overlapDuplicatesB: number
  overlapPeakRssMbA: number
  overlapPeakRssMbB: number
}

export interface OverlapSyncBenchOptions {
  /** LocalSync's poll interval on both sides (default 50 ms). */
  pollMs?: number
  /** How long both sides must stay settled before the run ends (default 2 s; not timed). */
  quietMs?: number
}

export async function runOverlapSyncBench(
  count: number,
  options: OverlapSyncBenchOptions = {},
): Promise<OverlapSyncBenchResult> {
  const pollMs = options.pollMs ?? 50
  const quietMs = options.quietMs ?? 2000
  const atB = Math.floor(count / 2)
  const setup = {
    prefix: 'objectsync-bench-overlap-',
    personsAtA: count,
    personsAtB: atB,
    expectAtB: count,
    pollMs,
    reportIdle: true,
  }
  return withSqlPeers(setup, async (sql) => {
    const times = await waitSettled(sql, count, quietMs)
    const rss = await stopPeers(sql.peers)
    const [a, b] = [countPersons(sql.connect(sql.fileA)), countPersons(sql.connect(sql.fileB))]
    reportDuplicates('A', a)
    reportDuplicates('B', b)
    const seconds = (value: number) => Math.round(value * 100) / 100
    return {
      overlapPersons: count,
      overlapPersonsAlreadyAtB: atB,
      overlapIngestSecondsA: sql.ingestSecondsA,
      overlapIngestSecondsB: sql.ingestSecondsB,
      overlapRowsAtBSeconds: seconds(times.rowsSeconds),
      overlapFirstSyncSeconds: seconds(times.settledSeconds),
      overlapPersonsAtA: a.rows,
      overlapPersonsAtB: b.rows,
      overlapDuplicatesA: a.duplicates,
      overlapDuplicatesB: b.duplicates,
      overlapPeakRssMbA: rss.rssA,
      overlapPeakRssMbB: rss.rssB,
    }
  })
}

/** One side as this process sees it: its own word, and its file read on our connection. */
function watch(peer: BenchPeer, db: Database.Database) {
  const version = () => db.pragma('data_version', { simple: true }) as number
  const log = db.prepare('SELECT count(*) FROM _objectsync_changes').pluck()
  let last = version()
  return {
    /**
     * Whether the side has something left to do: it has not said `idle` (or said `busy`
     * since), its file was written by another connection since last asked, or its change
     * log holds rows not read yet (its own writes, read back after it said `idle`).
     */
    busy(): boolean {
      const now = version()
      const written = now !== last
      last = now
      const said = peer.latest(['idle', 'busy'])
      return said === undefined || said === 'busy' || written || (log.get() as number) > 0
    },
  }
}

/**
 * Reads both sides every 100 ms until neither has had anything to do for `quietMs`; the
 * settled time is the first read of that state. B's table may then hold fewer rows than
 * N (objects left for review, say) or more (duplicates): the counts say so.
 */
async function waitSettled(
  sql: SqlPeers,
  count: number,
  quietMs: number,
): Promise<{ rowsSeconds: number; settledSeconds: number }> {
  const { peers, dialed } = sql
  const readB = sql.connect(sql.fileB)
  const sides = [watch(peers.a, sql.connect(sql.fileA)), watch(peers.b, readB)]
  const rowsAtB = readB.prepare('SELECT count(*) FROM persons').pluck()
  let rowsSeconds = NaN
  let quietSince: number | undefined
  const settled = () => {
    const now = Date.now()
    // Both sides read every time, so that each one's last version stays current.
    const busy = sides.map((side) => side.busy()).includes(true)
    if (Number.isNaN(rowsSeconds) && (rowsAtB.get() as number) >= count) {
      rowsSeconds = (now - dialed) / 1000
    }
    quietSince = busy ? undefined : (quietSince ?? now)
    return quietSince !== undefined && now - quietSince >= quietMs
  }
  await pollUntil(peers, settled, 'a peer exited before both sides settled')
  return { rowsSeconds, settledSeconds: (quietSince! - dialed) / 1000 }
}

interface PersonCount {
  rows: number
  duplicates: number
  /** Up to five persons found twice: the email and the ids of their rows. */
  samples: { email: string; ids: string }[]
}

/** The persons table's rows, and those that repeat a person (by email, or by name). */
function countPersons(db: Database.Database): PersonCount {
  const surplus = (by: string) =>
    db
      .prepare(
        `SELECT coalesce(sum(n - 1), 0) FROM
           (SELECT count(*) AS n FROM persons GROUP BY ${by} HAVING count(*) > 1)`,
      )
      .pluck()
      .get() as number
  return {
    rows: db.prepare('SELECT count(*) FROM persons').pluck().get() as number,
    duplicates: Math.max(surplus('lower(email)'), surplus('lower(first_name), lower(last_name)')),
    samples: db
      .prepare(
        `SELECT email, group_concat(id, ' ') AS ids FROM persons
         GROUP BY lower(email) HAVING count(*) > 1 LIMIT 5`,
      )
      .all() as { email: string; ids: string }[],
  }
}

/** A side's duplicates, named on stderr: the figure alone does not say which rows. */
function reportDuplicates(side: string, count: PersonCount): void {
  if (count.duplicates === 0) return
  process.stderr.write(`overlap: ${count.duplicates} duplicate rows at ${side}, for example:\n`)
  for (const { email, ids } of count.samples) {
    process.stderr.write(`  ${email}: rows ${ids}\n`)
  }
}
