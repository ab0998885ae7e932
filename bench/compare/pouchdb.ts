// PouchDB, measured the way bench:sync measures objectsync: two processes on loopback, the
// same generated persons. A writes them into a PouchDB database (LevelDB, PouchDB's default
// in Node) and serves it over HTTP with express-pouchdb, as pouchdb-server does; B
// replicates it into an empty LevelDB database of its own with PouchDB's replication and
// its defaults. The clock runs in B from opening its database until the replication has
// completed.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  TIMED_OUT,
  failure,
  startPeer,
  within,
  type BenchFailure,
  type PeerProcess,
} from './peer-process.ts'

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
  const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-pouchdb-'))
  const peers: PeerProcess[] = []
  const began = performance.now()
  let phase: BenchFailure['phase'] = 'create'
  const fail = (timedOut: boolean, error: string) =>
    failure({ system: 'pouchdb', persons: count, phase, timedOut, error }, began, peers)
  try {
    const a = startPeer(PEER, ['a', join(dir, 'a'), String(count)])
    peers.push(a)
    const ready = await within(timeoutMs, a.next('ready ', 'error '))
    if (ready === TIMED_OUT) return await fail(true, `A not ready within ${timeoutMs / 1000} s`)
    if (ready.startsWith('error ')) return await fail(false, ready.slice('error '.length))
    const [, url, createSeconds] = ready.split(' ') as [string, string, string]

    phase = 'sync'
    const b = startPeer(PEER, ['b', join(dir, 'b'), url])
    peers.push(b)
    const synced = await within(timeoutMs, b.next('synced ', 'error '))
    if (synced === TIMED_OUT) return await fail(true, `no first sync within ${timeoutMs / 1000} s`)
    if (synced.startsWith('error ')) return await fail(false, synced.slice('error '.length))
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
    // A peer that died without saying why: its stderr is in the message.
    return await fail(false, error instanceof Error ? error.message : String(error))
  } finally {
    for (const peer of peers) peer.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}
