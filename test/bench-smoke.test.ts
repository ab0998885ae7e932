// A small run of every benchmark, so that they keep working. Figures are not judged
// here — the machines are shared and noisy — only that each benchmark completes and
// reports sane numbers.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runAutomergeRepoBench } from '../bench/compare/automerge-repo.ts'
import { isFailure } from '../bench/compare/peer-process.ts'
import { runPouchDbBench } from '../bench/compare/pouchdb.ts'
import { runFilesBench } from '../bench/files-bench.ts'
import { runLinkBench } from '../bench/link-bench.ts'
import { runStoreBench } from '../bench/store-bench.ts'
import { runLocalPathBench } from '../bench/local-path-bench.ts'
import { runPostgresSyncBench } from '../bench/postgres-sync-bench.ts'
import { runOverlapSyncBench, runSqlSyncBench, runSyncBench } from '../bench/sync-bench.ts'
import { tempDir } from './helpers/stores.ts'

/** Each figure was measured: a number above zero (NaN where a line never came fails). */
function expectMeasured(figures: number[]): void {
  for (const figure of figures) {
    expect(Number.isFinite(figure)).toBe(true)
    expect(figure).toBeGreaterThan(0)
  }
}

describe('benchmark smoke runs', () => {
  it('bench:store runs on 1,000 persons', async () => {
    const result = await runStoreBench(1000, join(tempDir('bench-smoke'), 'store'))
    expect(result.count).toBe(1000)
    for (const value of Object.values(result)) expect(value).toBeGreaterThan(0)
    expect(result.rawJsonBytesPerObject).toBeGreaterThan(100)
  })

  it('bench:link runs on 2 MB of frames of two sizes', async () => {
    const results = await runLinkBench(2e6, [1024, 64 * 1024])
    expect(results.map((r) => r.frameBytes)).toEqual([1024, 64 * 1024])
    for (const result of results) {
      for (const value of Object.values(result)) expect(value).toBeGreaterThan(0)
    }
  })

  it('bench:files fetches a 4 MiB file over libp2p and compares it with sealed frames', async () => {
    const result = await runFilesBench(4)
    expect(result.fileMegabytes).toBe(4)
    for (const value of Object.values(result)) expect(value).toBeGreaterThan(0)
    expect(result.fileToSealedFrames).toBeCloseTo(result.fileMBps / result.sealedFrameMBps, 1)
  }, 60_000)

  it('bench:sync runs a first sync of 1,000 persons between two processes', async () => {
    const result = await runSyncBench(1000)
    expect(result.persons).toBe(1000)
    expect(result.firstSyncSeconds).toBeGreaterThan(0)
    expect(result.editsMeasured).toBeGreaterThan(0)
    expect(result.editLatencyP99Ms).toBeGreaterThanOrEqual(result.editLatencyP50Ms)
    expect(result.peakRssMbB).toBeGreaterThan(0)
    expect(result.wireBytesPerPerson).toBeGreaterThan(0)
  }, 60_000)

  it('bench:postgres runs PostgreSQL to SQLite and back on 200 persons and 10 edits', async () => {
    const result = await runPostgresSyncBench(200, { edits: 10 })
    expect(result.pgPersons).toBe(200)
    expect(result.pgToSqliteEditsMeasured).toBe(10)
    expect(result.pgToSqliteEditP99Ms).toBeGreaterThanOrEqual(result.pgToSqliteEditP50Ms)
    expectMeasured([
      result.pgToSqliteIngestSecondsA,
      result.pgToSqliteRowsAtBSeconds,
      result.pgToSqlitePeakRssMbA,
      result.pgToSqlitePeakRssMbB,
      result.pgToSqliteEditP50Ms,
      result.sqliteToPgRowsAtBSeconds,
      result.sqliteToPgPeakRssMbA,
      result.sqliteToPgPeakRssMbB,
    ])
  }, 120_000)

  it('bench:local takes 300 persons in and two bulk edits of them, every edit in the store', async () => {
    const result = await runLocalPathBench(300, 2)
    expect(result.localPersons).toBe(300)
    expect(result.localBulkEditRows).toBe(300)
    expect(result.localBulkEditSeconds).toHaveLength(2)
    // The last bulk edit's title on every person: each edited row was taken in.
    expect(result.localBulkEditTitlesInStore).toBe(300)
    expectMeasured([
      result.localIngestSeconds,
      result.localIngestCpuSeconds,
      result.localIngestMainThreadCpuSeconds,
      ...result.localBulkEditSeconds,
      result.localBulkEditCpuSeconds,
    ])
    // The main thread's CPU is part of the process's (every thread's).
    expect(result.localIngestMainThreadCpuSeconds).toBeLessThanOrEqual(
      result.localIngestCpuSeconds + 0.01,
    )
  }, 60_000)

  it('bench:sync runs SQLite to SQLite on 200 persons and 20 edits', async () => {
    const result = await runSqlSyncBench(200, { edits: 20 })
    expect(result.sqlPersons).toBe(200)
    // B's table ends with every row, each as it is at A (edited emails included).
    expect(result.sqlRowsAtB).toBe(200)
    expect(result.sqlRowsSameAtB).toBe(200)
    expect(result.sqlEditsMeasured).toBe(20)
    expect(result.sqlBulkEditRows).toBe(200)
    expect(result.sqlCatchUpRows).toBe(200)
    expectMeasured([
      result.sqlIngestSecondsA,
      result.sqlRowsAtBSeconds,
      result.sqlFirstSyncSeconds,
      result.sqlEditLatencyP50Ms,
      result.sqlEditLatencyP99Ms,
      result.sqlEditTakenInP50Ms,
      result.sqlBulkEditSeconds,
      result.sqlCatchUpStoreSeconds,
      result.sqlCatchUpRowsSeconds,
      result.sqlPeakRssMbA,
      result.sqlPeakRssMbB,
    ])
    expect(result.sqlEditLatencyP99Ms).toBeGreaterThanOrEqual(result.sqlEditLatencyP50Ms)
  }, 60_000)

  it('bench:sync matches the 100 of 200 persons B already has, on both sides, with no duplicates', async () => {
    const result = await runOverlapSyncBench(200, { quietMs: 500 })
    // Counted with SQL once both daemons stopped: each person once on each side (all
    // four counts in one comparison, so that a failure shows them together).
    expect(result).toMatchObject({
      overlapPersonsAlreadyAtB: 100,
      overlapPersonsAtA: 200,
      overlapPersonsAtB: 200,
      overlapDuplicatesA: 0,
      overlapDuplicatesB: 0,
    })
    expectMeasured([
      result.overlapRowsAtBSeconds,
      result.overlapFirstSyncSeconds,
      result.overlapPeakRssMbA,
      result.overlapPeakRssMbB,
    ])
  }, 60_000)
})

// The comparison benchmarks: the other systems, on the same generated persons.
describe('comparison benchmark smoke runs', () => {
  it('bench:compare runs automerge-repo on 1,000 persons between two processes', async () => {
    const result = await runAutomergeRepoBench(1000, { edits: 10, timeoutMs: 150_000 })
    if (isFailure(result)) throw new Error(`automerge-repo: ${result.error}`)
    expect(result.personsSynced).toBe(1000)
    for (const figure of [
      result.createSecondsA,
      result.firstSyncSeconds,
      result.docsPerSecond,
      result.storedSeconds,
      result.peakRssMbA,
      result.peakRssMbB,
    ]) {
      expect(figure).toBeGreaterThan(0)
    }
    expect(result.storedSeconds).toBeGreaterThanOrEqual(result.firstSyncSeconds)
    expect(result.editsMeasured).toBe(10)
    expect(result.editLatencyP50Ms).toBeGreaterThanOrEqual(0)
    expect(result.editLatencyP99Ms).toBeGreaterThanOrEqual(result.editLatencyP50Ms)
  }, 180_000)

  it('bench:compare runs PouchDB on 1,000 persons between two processes', async () => {
    const result = await runPouchDbBench(1000, { timeoutMs: 60_000 })
    if (isFailure(result)) throw new Error(`pouchdb: ${result.error}`)
    expect(result.personsSynced).toBe(1000)
    for (const figure of [
      result.createSecondsA,
      result.firstSyncSeconds,
      result.docsPerSecond,
      result.peakRssMbA,
      result.peakRssMbB,
    ]) {
      expect(figure).toBeGreaterThan(0)
    }
  }, 90_000)

  it('bench:compare reports a time-out as a result', async () => {
    const result = await runPouchDbBench(1000, { timeoutMs: 1 })
    expect(isFailure(result) && result.timedOut).toBe(true)
  })
})
