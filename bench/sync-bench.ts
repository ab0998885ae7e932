// The first-sync benchmark: two instances as separate processes (real LevelDB stores,
// libp2p over loopback TCP, sealed frames). A holds N persons, B is empty; B dials A and
// the time runs from the dial until B holds all N and A has said it is caught up.
//
// The whole path, SQLite to SQLite, is in sql-sync-bench.ts, and the first sync of two
// instances that already share half the persons in overlap-sync-bench.ts; both are
// exported from here too.
import { rmSync } from 'node:fs'
import { exited, instances, spawnPeer } from './sync-processes.ts'

export {
  runSqlSyncBench,
  type SqlSyncBenchOptions,
  type SqlSyncBenchResult,
} from './sql-sync-bench.ts'
export { insertPersons } from './sql-peers.ts'
export {
  runOverlapSyncBench,
  type OverlapSyncBenchOptions,
  type OverlapSyncBenchResult,
} from './overlap-sync-bench.ts'

export interface SyncBenchResult {
  persons: number
  firstSyncSeconds: number
  facetsPerSecond: number
  /** Sealed frames on the wire during the first sync (length prefixes included), MB. */
  wireMbAtoB: number
  wireMbBtoA: number
  wireBytesPerPerson: number
  peakRssMbA: number
  peakRssMbB: number
  /** Store to store, A's edit to B's store, after the first sync (ms). */
  editLatencyP50Ms: number
  editLatencyP99Ms: number
  editsMeasured: number
}

export async function runSyncBench(count: number): Promise<SyncBenchResult> {
  const { dir, dirA, dirB, idA, idB, key } = await instances('objectsync-bench-sync-')
  const a = spawnPeer([dirA, 'a', idB, '-', key, String(count), '0'])
  try {
    const address = (await a.next('ready ')).slice('ready '.length)
    const b = spawnPeer([dirB, 'b', idA, address, key, '0', String(count)])
    try {
      const [seconds, bytesIn, bytesOut] = (await b.next('synced '))
        .slice('synced '.length)
        .split(' ')
        .map(Number) as [number, number, number]
      a.child.kill('SIGUSR2')
      await a.next('edited')
      // Let the last edits land before asking B for its figures.
      await new Promise((resolve) => setTimeout(resolve, 200))
      b.child.kill('SIGTERM')
      const [, p50, p99, measured] = (await b.next('latency ')).split(' ').map(Number) as [
        number,
        number,
        number,
        number,
      ]
      a.child.kill('SIGTERM')
      const rssB = Number((await b.next('rss ')).slice(4))
      const rssA = Number((await a.next('rss ')).slice(4))
      await Promise.all([exited(a.child), exited(b.child)])
      return {
        persons: count,
        firstSyncSeconds: seconds,
        facetsPerSecond: Math.round(count / seconds),
        wireMbAtoB: Math.round(bytesIn / 1e5) / 10,
        wireMbBtoA: Math.round(bytesOut / 1e5) / 10,
        wireBytesPerPerson: Math.round(bytesIn / count),
        peakRssMbA: rssA,
        peakRssMbB: rssB,
        editLatencyP50Ms: p50,
        editLatencyP99Ms: p99,
        editsMeasured: measured,
      }
    } finally {
      b.child.kill('SIGKILL')
    }
  } finally {
    a.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}
