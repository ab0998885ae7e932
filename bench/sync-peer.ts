// One side of the two-process first-sync benchmark (bench/sync-bench.ts starts two).
//   sync-peer.ts <dir> <name> <peerId> <peerAddress|-> <keyBase64> <create> <expect> [<pollMs> [idle]]
// Creates <create> persons, prints "ready <address>" once listening, dials the peer if
// given an address, prints "synced <seconds> <bytes in> <bytes out>" (sealed frames on
// the wire) once its store holds <expect> facets and the peer has caught it up, and "rss <MB>" on SIGTERM. On SIGUSR2 it edits its first
// person EDITS times, 20 ms apart, writing the wall clock into the title ("edited" when
// done); a receiving side reports "latency <p50> <p99> <n>" on SIGTERM: how long each
// such edit took from the sender's store to its own.
// With <pollMs> the instance has a local system: <dir>/local.db (made by the caller, rows
// and all) behind a LocalSync reading its change log every <pollMs>, or the PostgreSQL
// database whose URL <dir>/local.url holds. Its first run is
// timed ("ingested <seconds>", before "ready"); a dialing side prints "dialed <epoch ms>"
// as it dials. The caller writes and reads the SQLite files itself, as other programs do;
// the title edits and their latency are left out. With `idle` it also says when it has
// nothing left to do (bench/idle-report.ts).
import '../src/polyfill.ts'
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import { holdMemory } from '../daemon/memory.ts'
import { decodePairKey } from '../src/crypto/index.ts'
import {
  LocalSync,
  POSTGRES_POLL_MS,
  PostgresConnector,
  SqliteConnector,
  mappingFromConfig,
} from '../src/local/index.ts'
import type { InstanceId, ObjectId } from '../src/model/index.ts'
import { PeerRegistry, loadOrCreateIdentity, memoryFiles } from '../src/net/index.ts'
import { LevelStorage, ObjectStore } from '../src/store/index.ts'
import { reportIdle } from './idle-report.ts'
import { person } from './people.ts'
import { startSync } from './sync-node.ts'

// As `objectsync start` runs: its memory held as the daemon holds it.
holdMemory()

const [dir, name, peerId, peerAddress, keyText, createText, expectText, pollText, idleText] =
  process.argv.slice(2) as [
    string,
    string,
    InstanceId,
    string,
    string,
    string,
    string,
    string | undefined,
    string | undefined,
  ]
// BENCH_MEMORY=DIR appends this side's memory (MB) to DIR/<name>.memory every 500 ms.
if (process.env.BENCH_MEMORY) {
  const file = join(process.env.BENCH_MEMORY, `${name}.memory`)
  const began = performance.now()
  setInterval(() => {
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20)
    appendFileSync(
      file,
      `${((performance.now() - began) / 1000).toFixed(1)} rss ${mb(rss)} heap ${mb(heapUsed)}/${mb(heapTotal)} external ${mb(external)} buffers ${mb(arrayBuffers)}\n`,
    )
  }, 500).unref()
}
// BENCH_ALLOCATIONS=DIR writes a sampling profile of everything this side allocates (kept or
// collected: where the garbage comes from) into DIR/<name>.heapprofile on SIGTERM.
const allocations = process.env.BENCH_ALLOCATIONS ? new Session() : undefined
if (allocations !== undefined) {
  allocations.connect()
  allocations.post('HeapProfiler.startSampling', {
    samplingInterval: 32_768,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  })
}
const count = Number(createText)
const expected = Number(expectText)
const pollMs = pollText === undefined ? undefined : Number(pollText)
const identity = await loadOrCreateIdentity(join(dir, 'keys'))
const store = new ObjectStore({
  storage: new LevelStorage(join(dir, 'store')),
  instanceId: identity.id,
  identityKey: identity.privateKey, // as the daemon: every change signed
})
await store.open()
let first: ObjectId | undefined
for (let start = 0; start < count; start += 256) {
  const batch = []
  for (let i = start; i < Math.min(count, start + 256); i++) {
    batch.push(store.create({ type: 'person', fields: person(i) }))
  }
  const created = await Promise.all(batch)
  first ??= created[0]?.id
}
let local: LocalSync | undefined
if (pollMs !== undefined) {
  // <dir>/local.url names a PostgreSQL database instead: polled as the daemon polls one
  // (every 2 s, woken by NOTIFY at each commit).
  const url = existsSync(join(dir, 'local.url'))
    ? readFileSync(join(dir, 'local.url'), 'utf8').trim()
    : undefined
  local = new LocalSync({
    store,
    connector:
      url === undefined ? new SqliteConnector(join(dir, 'local.db')) : new PostgresConnector(url),
    mapping: mappingFromConfig(undefined),
    instanceId: identity.id,
    pollMs: url === undefined ? pollMs : POSTGRES_POLL_MS,
  })
  const began = performance.now()
  await local.start()
  process.stdout.write(`ingested ${((performance.now() - began) / 1000).toFixed(2)}\n`)
}
const registry = new PeerRegistry(memoryFiles())
await registry.add(
  { id: peerId, name: 'peer', addresses: peerAddress === '-' ? [] : [peerAddress] },
  { current: decodePairKey(keyText)! },
)
const { transport, engine } = await startSync(name, identity, store, registry)
if (local !== undefined && pollMs !== undefined && idleText === 'idle') {
  reportIdle({ store, local, engine, peer: peerId, pollMs })
}
let started = 0
engine.on('progress', (_, progress) => {
  if (progress.caughtUp && store.lastSeq >= expected && started > 0) {
    const traffic = engine.session(peerId)?.traffic
    process.stdout.write(
      `synced ${((performance.now() - started) / 1000).toFixed(2)} ${traffic?.bytesReceived ?? 0} ${traffic?.bytesSent ?? 0}\n`,
    )
    started = 0
  }
})
const EDITS = 200
const latencies: number[] = []
store.on('feed', (entries) => {
  if (started !== 0 || pollMs !== undefined) return
  for (const entry of entries) {
    void store.get(entry.object).then((object) => {
      const title = Number(object?.fields.title)
      if (Number.isFinite(title) && title > 1e12) latencies.push(Date.now() - title)
    })
  }
})
process.on('SIGUSR2', () => {
  void (async () => {
    for (let i = 0; i < EDITS && first !== undefined; i++) {
      await store.update(first, { fields: { title: String(Date.now()) } })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    process.stdout.write('edited\n')
  })()
})
process.on('SIGTERM', () => {
  if (latencies.length > 0) {
    const sorted = [...latencies].sort((a, b) => a - b)
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
    process.stdout.write(`latency ${at(0.5)} ${at(0.99)} ${sorted.length}\n`)
  }
  process.stdout.write(`rss ${Math.round(process.resourceUsage().maxRSS / 1024)}\n`)
  // (The session's callbacks run synchronously, before post returns.)
  allocations?.post('HeapProfiler.stopSampling', (error, result) => {
    if (error === null) {
      const file = join(process.env.BENCH_ALLOCATIONS!, `${name}.heapprofile`)
      writeFileSync(file, JSON.stringify(result.profile))
    }
  })
  // exit() (not a signal death) lets --cpu-prof write its profile.
  process.exit(0)
})
process.stdout.write(`ready ${transport.addresses()[0]!}\n`)
if (peerAddress !== '-') {
  started = performance.now()
  if (pollMs !== undefined) process.stdout.write(`dialed ${Date.now()}\n`)
  engine.connect(peerId)
}
