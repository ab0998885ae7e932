// The first-sync benchmark: two instances as separate processes (real LevelDB stores,
// libp2p over loopback TCP, sealed frames). A holds N persons, B is empty; B dials A and
// the time runs from the dial until B holds all N and A has said it is caught up.
//
// The whole path (runSqlSyncBench): the same two processes, each with its SQLite local
// system; this process is "another program" writing A's file and reading B's with plain
// SQL on connections of its own.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { encodePairKey, generatePairKey } from '../src/crypto/index.ts'
import { createLocalDatabase } from '../src/local/index.ts'
import { loadOrCreateIdentity } from '../src/net/index.ts'
import { childLines } from './child-lines.ts'
import { person } from './people.ts'

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
}

export interface SqlSyncBenchOptions {
  /** Sequential edits timed after the first sync (default 1,000). */
  edits?: number
  /** LocalSync's poll interval on both sides (default 50 ms). */
  pollMs?: number
}

const root = fileURLToPath(new URL('..', import.meta.url))

function peer(args: string[]): { child: ChildProcess; next: (prefix: string) => Promise<string> } {
  // BENCH_PROFILE=DIR writes a CPU profile of each side into DIR.
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : []
  const child = spawn(
    process.execPath,
    [...profile, '--import', 'tsx', 'bench/sync-peer.ts', ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  return { child, next: childLines(child) }
}

/** Two instance folders with identities, and the key that pairs them. */
async function instances(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const [dirA, dirB] = [join(dir, 'a'), join(dir, 'b')]
  mkdirSync(dirA)
  mkdirSync(dirB)
  const [idA, idB] = [
    (await loadOrCreateIdentity(join(dirA, 'keys'))).id,
    (await loadOrCreateIdentity(join(dirB, 'keys'))).id,
  ]
  const key = encodePairKey(generatePairKey()).trim()
  return { dir, dirA, dirB, idA, idB, key }
}

export async function runSyncBench(count: number): Promise<SyncBenchResult> {
  const { dir, dirA, dirB, idA, idB, key } = await instances('objectsync-bench-sync-')
  const a = peer([dirA, 'a', idB, '-', key, String(count), '0'])
  try {
    const address = (await a.next('ready ')).slice('ready '.length)
    const b = peer([dirB, 'b', idA, address, key, '0', String(count)])
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

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 5000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Inserts persons 0..count-1 as rows `p<i>` in one transaction, as an import would. */
export function insertPersons(path: string, count: number): void {
  const db = new Database(path)
  try {
    const insert = db.prepare(
      `INSERT INTO persons(id, first_name, last_name, email, phone, birthday, title, role)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const fields = person(i)
        insert.run(
          `p${i}`,
          fields.firstName,
          fields.lastName,
          fields.email,
          fields.phone,
          fields.birthday,
          fields.title,
          (fields.roles as string[]).join(','),
        )
      }
    })()
  } finally {
    db.close()
  }
}

/**
 * SQLite to SQLite. A's local.db holds N persons (inserted with SQL before A starts; its
 * first run takes them in), B's is empty; B dials A, and the clock runs until B's persons
 * table holds N rows (read every 100 ms on a connection of this process), then until both
 * daemons have read their change logs empty. Then `edits` UPDATEs of one person's email at
 * A, one at a time, each timed until B's row shows it (read every 2 ms); after each, a
 * random pause of up to one poll interval, so that edits fall anywhere in A's poll cycle,
 * as a person's would.
 */
export async function runSqlSyncBench(
  count: number,
  options: SqlSyncBenchOptions = {},
): Promise<SqlSyncBenchResult> {
  const edits = options.edits ?? 1000
  const pollMs = options.pollMs ?? 50
  const { dir, dirA, dirB, idA, idB, key } = await instances('objectsync-bench-sql-')
  const [fileA, fileB] = [join(dirA, 'local.db'), join(dirB, 'local.db')]
  createLocalDatabase(fileA)
  createLocalDatabase(fileB)
  insertPersons(fileA, count)
  const a = peer([dirA, 'a', idB, '-', key, '0', '0', String(pollMs)])
  const open: Database.Database[] = []
  try {
    const ingestSeconds = Number((await a.next('ingested ')).slice('ingested '.length))
    const address = (await a.next('ready ')).slice('ready '.length)
    const b = peer([dirB, 'b', idA, address, key, '0', String(count), String(pollMs)])
    try {
      const dialed = Number((await b.next('dialed ')).slice('dialed '.length))
      const synced = b.next('synced ')
      synced.catch(() => undefined)
      const readB = new Database(fileB, { readonly: true })
      open.push(readB)
      readB.pragma('busy_timeout = 5000')
      const rowsAtB = readB.prepare('SELECT count(*) FROM persons').pluck()
      while ((rowsAtB.get() as number) < count) {
        if (b.child.exitCode !== null || a.child.exitCode !== null) {
          throw new Error('a peer exited before B held every row')
        }
        await sleep(100)
      }
      const rowsSeconds = (Date.now() - dialed) / 1000
      // B's store is caught up before its table is full, unless something is off.
      let timer: NodeJS.Timeout | undefined
      const storeSeconds = Number(
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
      // B reads its own writes back from its change log (and finds them its own); edits are
      // timed once both change logs are empty.
      const readA = new Database(fileA, { readonly: true })
      open.push(readA)
      const logAtA = readA.prepare('SELECT count(*) FROM _objectsync_changes').pluck()
      const logAtB = readB.prepare('SELECT count(*) FROM _objectsync_changes').pluck()
      while (logAtB.get() !== 0 || logAtA.get() !== 0) {
        if (b.child.exitCode !== null || a.child.exitCode !== null) {
          throw new Error('a peer exited before its change log was read')
        }
        await sleep(100)
      }
      const settledSeconds = (Date.now() - dialed) / 1000

      // Edits: A's row p<i> is B's row keyed by the object's id; last names are unique.
      const keyAtB = new Map(
        (
          readB.prepare('SELECT last_name, id FROM persons').all() as {
            last_name: string
            id: string
          }[]
        ).map((row) => [row.last_name, row.id]),
      )
      const writeA = new Database(fileA)
      open.push(writeA)
      writeA.pragma('busy_timeout = 5000')
      const update = writeA.prepare('UPDATE persons SET email = ? WHERE id = ?')
      const emailAtB = readB.prepare('SELECT email FROM persons WHERE id = ?').pluck()
      // A's daemon trims its change log once it has taken the edit into its store.
      const latencies: number[] = []
      const takenIn: number[] = []
      for (let k = 0; k < edits; k++) {
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
        await sleep(Math.random() * pollMs)
      }
      // Every row at B as it is at A (the columns the benchmark wrote), matched on last name.
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
      const sorted = [...latencies].sort((x, y) => x - y)
      const sortedTakenIn = [...takenIn].sort((x, y) => x - y)
      const ms = (value: number) => Math.round(value * 10) / 10

      b.child.kill('SIGTERM')
      a.child.kill('SIGTERM')
      const rssB = Number((await b.next('rss ')).slice(4))
      const rssA = Number((await a.next('rss ')).slice(4))
      await Promise.all([exited(a.child), exited(b.child)])
      const firstSync = ingestSeconds + rowsSeconds
      return {
        sqlPersons: count,
        sqlPollMs: pollMs,
        sqlIngestSecondsA: ingestSeconds,
        sqlStoreSyncSeconds: storeSeconds,
        sqlRowsAtBSeconds: Math.round(rowsSeconds * 100) / 100,
        sqlFirstSyncSeconds: Math.round(firstSync * 100) / 100,
        sqlRowsPerSecond: Math.round(count / firstSync),
        sqlSettledSeconds: Math.round(settledSeconds * 100) / 100,
        sqlRowsAtB: finalAtB.length,
        sqlRowsSameAtB: sameAtB,
        sqlPeakRssMbA: rssA,
        sqlPeakRssMbB: rssB,
        sqlEditLatencyP50Ms: sorted.length === 0 ? NaN : ms(quantile(sorted, 0.5)),
        sqlEditLatencyP99Ms: sorted.length === 0 ? NaN : ms(quantile(sorted, 0.99)),
        sqlEditTakenInP50Ms: sorted.length === 0 ? NaN : ms(quantile(sortedTakenIn, 0.5)),
        sqlEditsMeasured: sorted.length,
      }
    } finally {
      b.child.kill('SIGKILL')
    }
  } finally {
    for (const db of open) db.close()
    a.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}
