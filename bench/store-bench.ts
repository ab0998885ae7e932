// The object store benchmark: create N persons, close, reopen, read all, scan the feed;
// then search them (a name nobody has: the whole store read; a common one: a page) and
// read a page of the history of one person edited many times.
// Used by `npm run bench:store` (100,000) and by a 1,000-object smoke run in `npm test`.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createIdentity } from '../src/net/index.ts'
import type { ObjectId } from '../src/model/index.ts'
import { LevelStorage, ObjectStore } from '../src/store/index.ts'
import { person } from './people.ts'

export interface StoreBenchResult {
  count: number
  createPerSecond: number
  createMicros: number
  reopenMs: number
  readPerSecond: number
  readMicros: number
  feedScanPerSecond: number
  bytesOnDiskPerObject: number
  rawJsonBytesPerObject: number
  diskToJsonRatio: number
  /** A search nothing matches: every record read. */
  searchMissMs: number
  /** A search for a common first name: its first page. */
  searchPageMs: number
  /** Edits of the one person whose history is read. */
  historyChanges: number
  /** A page of 100 entries of that history. */
  historyPageMs: number
  peakRssMb: number
}

/** Edits of one person for the history figure: a record edited this often is rare. */
const HISTORY_CHANGES = 8000

// Writers in flight at once, as a connector importing a table or a first sync would
// submit them; the store groups them into shared LevelDB batches.
const IN_FLIGHT = 256

function dirSize(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? dirSize(path) : statSync(path).size
  }
  return total
}

async function openStore(dir: string): Promise<ObjectStore> {
  // A real identity, as the daemon's: every change is signed with its key.
  const identity = await createIdentity()
  return new ObjectStore({
    storage: new LevelStorage(dir),
    instanceId: identity.id,
    identityKey: identity.privateKey,
  })
}

export async function runStoreBench(count: number, dir: string): Promise<StoreBenchResult> {
  const store = await openStore(dir)
  await store.open()
  let rawJson = 0
  const ids: ObjectId[] = new Array<ObjectId>(count)
  const createStart = performance.now()
  for (let start = 0; start < count; start += IN_FLIGHT) {
    const batch: Promise<void>[] = []
    for (let i = start; i < Math.min(count, start + IN_FLIGHT); i++) {
      const fields = person(i)
      batch.push(
        store.create({ type: 'person', fields }).then((created) => {
          ids[i] = created.id
          rawJson += Buffer.byteLength(JSON.stringify({ id: created.id, type: 'person', fields }))
        }),
      )
    }
    await Promise.all(batch)
  }
  const createMs = performance.now() - createStart
  await store.close()

  const reopenStart = performance.now()
  const reopened = await openStore(dir)
  await reopened.open()
  const reopenMs = performance.now() - reopenStart

  const readStart = performance.now()
  let read = 0
  let after: string | undefined
  do {
    const page = await reopened.list(
      'person',
      after === undefined ? { limit: 1000 } : { limit: 1000, after },
    )
    read += page.items.length
    after = page.next
  } while (after !== undefined)
  const readMs = performance.now() - readStart
  if (read !== count) throw new Error(`read ${read} objects back, expected ${count}`)

  const scanStart = performance.now()
  let scanned = 0
  for (let seq = 0; ;) {
    const entries = await reopened.readFeed(seq, 10_000)
    if (entries.length === 0) break
    scanned += entries.length
    seq = entries[entries.length - 1]!.seq
  }
  const scanMs = performance.now() - scanStart
  if (scanned !== count) throw new Error(`scanned ${scanned} feed entries, expected ${count}`)
  await reopened.close()
  const bytesOnDisk = dirSize(dir)
  const reads = await searchAndHistory(dir, ids[0]!, Math.min(count, HISTORY_CHANGES))
  return {
    count,
    createPerSecond: Math.round(count / (createMs / 1000)),
    createMicros: round((createMs * 1000) / count),
    reopenMs: round(reopenMs),
    readPerSecond: Math.round(count / (readMs / 1000)),
    readMicros: round((readMs * 1000) / count),
    feedScanPerSecond: Math.round(scanned / (scanMs / 1000)),
    bytesOnDiskPerObject: Math.round(bytesOnDisk / count),
    rawJsonBytesPerObject: Math.round(rawJson / count),
    diskToJsonRatio: round(bytesOnDisk / rawJson),
    ...reads,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  }
}

async function searchAndHistory(dir: string, edited: ObjectId, changes: number) {
  const store = await openStore(dir)
  await store.open()
  try {
    const missStart = performance.now()
    const missed = await store.search('nobody has this name')
    const searchMissMs = performance.now() - missStart
    if (missed.items.length !== 0) throw new Error('a search for nobody found somebody')
    const pageStart = performance.now()
    const page = await store.search('anna')
    const searchPageMs = performance.now() - pageStart
    if (page.items.length === 0) throw new Error('a search for a common name found nobody')
    for (let change = 0; change < changes; change++) {
      await store.update(edited, { fields: { title: `Title ${change}` } })
    }
    const historyStart = performance.now()
    const history = await store.history(edited, { limit: 100 })
    const historyPageMs = performance.now() - historyStart
    if (history.entries.length !== Math.min(100, changes + 1)) {
      throw new Error(`read ${history.entries.length} history entries`)
    }
    return {
      searchMissMs: round(searchMissMs),
      searchPageMs: round(searchPageMs),
      historyChanges: changes,
      historyPageMs: round(historyPageMs),
    }
  } finally {
    await store.close()
  }
}

/** To two decimals, as the benchmarks print their figures. */
export function round(value: number): number {
  return Math.round(value * 100) / 100
}
