// One instance's half of the SQLite path, in this process, with no peer: its store (real
// LevelDB) takes `count` persons in from a local.db (the first run), then bulk edits of
// up to 20,000 rows made in one SQL UPDATE each, timed until the change log is taken in.
// What bench:sync measures across two processes, without the peer, the network and the
// second process competing for the cores: where the instance's own time goes. Besides
// the times, the CPU the whole process used (every thread: the store's worker, LevelDB's
// compaction, V8's collector helpers) and, on Linux, the main thread's alone.
import '../src/polyfill.ts'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { isMainThread } from 'node:worker_threads'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PerformanceObserver } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import {
  LocalSync,
  SqliteConnector,
  createLocalDatabase,
  mappingFromConfig,
} from '../src/local/index.ts'
import { createIdentity } from '../src/net/index.ts'
import { LevelStorage, ObjectStore } from '../src/store/index.ts'
import { insertPersons } from './sql-peers.ts'
import { BULK_EDIT_ROWS, BULK_EDIT_SQL } from './sql-sync-bench.ts'
import { round } from './store-bench.ts'

/** Up to this many persons, the store is read back to check the last bulk edit (≈ 20 s). */
const CHECKED_UP_TO = 100_000

export interface LocalPathBenchResult {
  localPersons: number
  localIngestSeconds: number
  /** CPU of the whole process while taking the rows in, and of its main thread alone. */
  localIngestCpuSeconds: number
  localIngestMainThreadCpuSeconds: number
  /** Main-thread pauses of the garbage collector while taking the rows in. */
  localIngestGcSeconds: number
  localBulkEditRows: number
  /** Each bulk edit, from its UPDATE until its rows are taken in, in order. */
  localBulkEditSeconds: number[]
  localBulkEditCpuSeconds: number
  localBulkEditMainThreadCpuSeconds: number
  localBulkEditGcSeconds: number
  /**
   * Persons in the store whose title is the last bulk edit's (every edited row); NaN above
   * CHECKED_UP_TO persons, where reading every object back would take minutes.
   */
  localBulkEditTitlesInStore: number
}

/**
 * Runs in a temporary folder, removed at the end. `bulkEdits` UPDATEs of min(count,
 * 20,000) rows' titles, each taken in before the next.
 */
export async function runLocalPathBench(
  count: number,
  bulkEdits = 3,
): Promise<LocalPathBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-local-'))
  const gc = new GcPauses()
  let store: ObjectStore | undefined
  let writer: Database.Database | undefined
  let local: LocalSync | undefined
  try {
    const file = join(dir, 'local.db')
    createLocalDatabase(file)
    insertPersons(file, count)
    const identity = await createIdentity()
    store = new ObjectStore({
      storage: new LevelStorage(join(dir, 'store')),
      instanceId: identity.id,
      identityKey: identity.privateKey, // as the daemon: every change signed
    })
    await store.open()
    writer = new Database(file)
    local = new LocalSync({
      store,
      connector: new SqliteConnector(file),
      mapping: mappingFromConfig(undefined),
      instanceId: identity.id,
      // Never on its own: each phase reads the change log when it says so (settled).
      pollMs: 3_600_000,
    })
    const running = local
    const ingest = await measured(gc, async () => {
      await running.start()
      await running.settled()
    })
    // LocalSync logs what fails and goes on: a run that took nothing in must not pass for
    // a fast one.
    const persons = await store.count('person')
    if (persons !== count) throw new Error(`${persons} of ${count} rows taken in`)
    const rows = Math.min(count, BULK_EDIT_ROWS)
    const update = writer.prepare(BULK_EDIT_SQL)
    const changesLeft = writer.prepare('SELECT count(*) FROM _objectsync_changes').pluck()
    const seconds: number[] = []
    let title = ''
    const bulk = await measured(gc, async () => {
      for (let edit = 1; edit <= bulkEdits; edit++) {
        title = `bulk ${edit} ${Date.now()}`
        const began = performance.now()
        update.run(title, rows)
        await running.settled()
        seconds.push(round((performance.now() - began) / 1000))
        const left = changesLeft.get() as number
        if (left > 0) throw new Error(`bulk edit ${edit}: ${left} changes not taken in`)
      }
    })
    const titles = bulkEdits > 0 && count <= CHECKED_UP_TO ? await countTitles(store, title) : NaN
    return {
      localPersons: count,
      localIngestSeconds: round(ingest.seconds),
      localIngestCpuSeconds: round(ingest.cpu),
      localIngestMainThreadCpuSeconds: round(ingest.mainThreadCpu),
      localIngestGcSeconds: round(ingest.gc),
      localBulkEditRows: bulkEdits === 0 ? 0 : rows,
      localBulkEditSeconds: seconds,
      localBulkEditCpuSeconds: round(bulk.cpu),
      localBulkEditMainThreadCpuSeconds: round(bulk.mainThreadCpu),
      localBulkEditGcSeconds: round(bulk.gc),
      localBulkEditTitlesInStore: titles,
    }
  } finally {
    gc.stop()
    await local?.stop().catch(() => undefined)
    writer?.close()
    await store?.close().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Wall time, process CPU, main-thread CPU (NaN off Linux) and GC pauses of `work`. */
async function measured(
  gc: GcPauses,
  work: () => Promise<void>,
): Promise<{ seconds: number; cpu: number; mainThreadCpu: number; gc: number }> {
  const cpu = process.cpuUsage()
  const mainThread = mainThreadCpuSeconds()
  const paused = gc.seconds
  const began = performance.now()
  await work()
  const used = process.cpuUsage(cpu)
  return {
    seconds: (performance.now() - began) / 1000,
    cpu: (used.user + used.system) / 1e6,
    mainThreadCpu: mainThreadCpuSeconds() - mainThread,
    gc: gc.seconds - paused,
  }
}

/**
 * The main thread's CPU seconds so far, from /proc (its schedstat: nanoseconds on a CPU);
 * NaN where there is none, or off the main thread. process.cpuUsage counts every thread,
 * finished ones too.
 */
function mainThreadCpuSeconds(): number {
  const schedstat = `/proc/self/task/${process.pid}/schedstat`
  if (!isMainThread || !existsSync(schedstat)) return NaN
  return Number(readFileSync(schedstat, 'utf8').split(' ')[0]) / 1e9
}

/** The main thread's garbage-collection pauses, summed as they happen. */
class GcPauses {
  seconds = 0
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.seconds += entry.duration / 1000
  })

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] })
  }

  stop(): void {
    this.observer.disconnect()
  }
}

/** How many persons in the store have `title`, read a page at a time. */
async function countTitles(store: ObjectStore, title: string): Promise<number> {
  let titled = 0
  let after: string | undefined
  for (;;) {
    const page = await store.list('person', { limit: 1000, ...(after ? { after } : {}) })
    for (const object of page.items) if (object.fields.title === title) titled++
    if (page.next === undefined) return titled
    after = page.next
  }
}
