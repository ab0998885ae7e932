// automerge-repo, measured the way bench:sync measures objectsync: two processes on
// loopback, the same generated persons. A creates one document per person (as
// automerge-repo intends) plus a root document listing their URLs, on its NodeFS store, and
// serves them over its WebSocket server adapter; B starts empty, connects with the client
// adapter, waits for the peer, finds the root document and then each person (a bounded
// number of finds in flight). The clock runs in B from creating its repo until every
// person's document is ready. Then A edits persons one at a time, each timed until B's
// handle shows the edit.
import { join } from 'node:path'
import {
  ComparisonRun,
  TIMED_OUT,
  quantile,
  within,
  type BenchFailure,
  type PeerProcess,
} from './peer-process.ts'

export interface AutomergeRepoBenchResult {
  system: 'automerge-repo'
  persons: number
  /** Persons whose document B holds, with their fields, once its finds have resolved. */
  personsSynced: number
  /** A: creating the documents and the root document, flushed to its store (before the clock). */
  createSecondsA: number
  /** B: from creating its repo until every person's document is ready. */
  firstSyncSeconds: number
  docsPerSecond: number
  /** B: as far, and then its store flushed to disk. */
  storedSeconds: number
  peakRssMbA: number
  peakRssMbB: number
  /** One edit at A to B's handle showing it; edits one at a time. */
  editLatencyP50Ms: number
  editLatencyP99Ms: number
  editsMeasured: number
}

export interface AutomergeRepoBenchOptions {
  /** Edits timed after the first sync (default 50). */
  edits?: number
  /**
   * B's finds in flight (default 64): more gained little at 1,000 persons; each find gives
   * up after 60 s, so all N at once would let the last ones wait that out.
   */
  concurrency?: number
  /** For A's creating, and then for B's first sync (default 10 minutes). */
  timeoutMs?: number
}

const PEER = 'bench/compare/automerge-repo-peer.ts'
// Longer than the 100 ms for which automerge-repo batches a document's changes, so that
// each edit is timed on its own rather than waiting behind the previous one.
const EDIT_GAP_MS = 150
const EDIT_TIMEOUT_MS = 30_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function runAutomergeRepoBench(
  count: number,
  options: AutomergeRepoBenchOptions = {},
): Promise<AutomergeRepoBenchResult | BenchFailure> {
  const edits = Math.min(options.edits ?? 50, count)
  const concurrency = options.concurrency ?? 64
  const timeoutMs = options.timeoutMs ?? 600_000
  const run = new ComparisonRun('automerge-repo', count)
  try {
    const source = await run.startSource(PEER, timeoutMs)
    if (!('ready' in source)) return source
    const { a } = source
    const [url, rootUrl, createSeconds] = source.ready as [string, string, string]

    run.phase = 'sync'
    const b = run.start(PEER, [
      'b',
      join(run.dir, 'b'),
      url,
      rootUrl,
      String(concurrency),
      String(edits),
    ])
    const synced = await run.expect(
      b,
      'synced ',
      timeoutMs,
      `no first sync within ${timeoutMs / 1000} s`,
    )
    if (typeof synced !== 'string') return synced
    const [, syncSeconds, personsSynced] = synced.split(' ').map(Number) as [number, number, number]
    const stored = await run.expect(
      b,
      'stored ',
      timeoutMs,
      `B's flush not done in ${timeoutMs / 1000} s`,
    )
    if (typeof stored !== 'string') return stored

    run.phase = 'edits'
    const latencies = await timeEdits(a, b, edits)
    if (!Array.isArray(latencies)) return await run.fail(latencies.timedOut, latencies.error)
    const [rssA, rssB] = [await a.stop(), await b.stop()]
    const sorted = latencies.sort((x, y) => x - y)
    return {
      system: 'automerge-repo',
      persons: count,
      personsSynced,
      createSecondsA: Number(createSeconds),
      firstSyncSeconds: syncSeconds,
      docsPerSecond: Math.round(personsSynced / syncSeconds),
      storedSeconds: Number(stored.slice('stored '.length)),
      peakRssMbA: rssA ?? NaN,
      peakRssMbB: rssB ?? NaN,
      editLatencyP50Ms: sorted.length === 0 ? NaN : quantile(sorted, 0.5),
      editLatencyP99Ms: sorted.length === 0 ? NaN : quantile(sorted, 0.99),
      editsMeasured: sorted.length,
    }
  } catch (error) {
    return await run.died(error)
  } finally {
    run.cleanUp()
  }
}

/** Edits persons 0..edits-1 at A, one at a time; B's latency for each (ms). */
async function timeEdits(
  a: PeerProcess,
  b: PeerProcess,
  edits: number,
): Promise<number[] | { timedOut: boolean; error: string }> {
  const latencies: number[] = []
  for (let k = 0; k < edits; k++) {
    a.send(`edit ${k}`)
    const seen = await within(EDIT_TIMEOUT_MS, b.next('seen '))
    if (seen === TIMED_OUT) return { timedOut: true, error: `edit ${k} not seen at B` }
    latencies.push(Number(seen.slice('seen '.length)))
    await sleep(EDIT_GAP_MS)
  }
  return latencies
}
