// PouchDB, measured the way bench:sync measures objectsync: two processes on loopback, the
// same generated persons. A writes them into a PouchDB database (LevelDB, PouchDB's default
// in Node) and serves it over HTTP with express-pouchdb, as pouchdb-server does; B
// replicates it into an empty LevelDB database of its own with PouchDB's replication and
// its defaults. The clock runs in B from opening its database until the replication has
// completed.
import { join } from 'node:path'
import { ComparisonRun, type BenchFailure } from './peer-process.ts'

export interface PouchDbBenchResult {
  system: 'pouchdb'
  persons: number
  /** B's doc_count once the replication has completed. */
  personsSynced: number
  /** A: writing the persons with bulkDocs (before the clock). */
  createSecondsA: number
  /** B: from opening its database until the replication has completed. */
  firstSyncSeconds: number
  docsPerSecond: number
  peakRssMbA: number
  peakRssMbB: number
}

export interface PouchDbBenchOptions {
  /** For A's writing, and then for B's replication (default 10 minutes). */
  timeoutMs?: number
}

const PEER = 'bench/compare/pouchdb-peer.ts'

export async function runPouchDbBench(
  count: number,
  options: PouchDbBenchOptions = {},
): Promise<PouchDbBenchResult | BenchFailure> {
  const timeoutMs = options.timeoutMs ?? 600_000
  const run = new ComparisonRun('pouchdb', count)
  try {
    const source = await run.startSource(PEER, timeoutMs)
    if (!('ready' in source)) return source
    const { a } = source
    const [url, createSeconds] = source.ready as [string, string]

    run.phase = 'sync'
    const b = run.start(PEER, ['b', join(run.dir, 'b'), url])
    const synced = await run.expect(
      b,
      'synced ',
      timeoutMs,
      `no first sync within ${timeoutMs / 1000} s`,
    )
    if (typeof synced !== 'string') return synced
    const [, seconds, personsSynced] = synced.split(' ').map(Number) as [number, number, number]
    const [rssA, rssB] = [await a.stop(), await b.stop()]
    return {
      system: 'pouchdb',
      persons: count,
      personsSynced,
      createSecondsA: Number(createSeconds),
      firstSyncSeconds: seconds,
      docsPerSecond: Math.round(personsSynced / seconds),
      peakRssMbA: rssA ?? NaN,
      peakRssMbB: rssB ?? NaN,
    }
  } catch (error) {
    return await run.died(error)
  } finally {
    run.cleanUp()
  }
}
