// One side of the automerge-repo comparison (bench/compare/automerge-repo.ts starts two).
//   automerge-repo-peer.ts a <dir> <count>
//     Creates <count> persons, one document each, and a root document listing their URLs,
//     all flushed to a NodeFS store in <dir>; then serves them over a WebSocket on loopback,
//     configured as automerge-repo's sync server is (it shares only what is asked for).
//     Prints "created <n> <rss MB>" on the way and "ready <ws url> <root url> <seconds>"
//     once listening. Each "edit <k>" line on stdin writes the wall clock into person k's
//     title.
//   automerge-repo-peer.ts b <dir> <ws url> <root url> <concurrency> <watch>
//     An empty repo (NodeFS store in <dir>) that connects to A, waits for the peer, finds
//     the root document and then every person with <concurrency> finds in flight. Prints
//     "progress <found> <rss MB>" on the way, "synced <seconds> <persons>" once every
//     person is ready, "stored <seconds>" once its store is flushed, and "seen <ms>" for
//     each edit that reaches one of the first <watch> persons.
// Both print "error <message>" and exit on a failure, and "rss <MB>" on SIGTERM.
import { createInterface } from 'node:readline'
import { Repo, type AutomergeUrl, type DocHandle } from '@automerge/automerge-repo'
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from '@automerge/automerge-repo-network-websocket'
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs'
import { WebSocketServer } from 'ws'
import { person } from '../people.ts'
import { peakRssMb } from './peer-process.ts'

type Person = ReturnType<typeof person>
// @types/ws declares `import` and `require` apart; the adapter was typed against the latter.
type AdapterServer = ConstructorParameters<typeof WebSocketServerAdapter>[0]
interface Root {
  persons: AutomergeUrl[]
}

// Creates are flushed in batches, so that pending writes stay bounded.
const CREATE_BATCH = 1000
const PROGRESS_EVERY = 1000

const say = (line: string) => process.stdout.write(line + '\n')
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(2)

async function serve(dir: string, count: number): Promise<void> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise((resolve) => server.once('listening', resolve))
  const repo = new Repo({
    storage: new NodeFSStorageAdapter(dir),
    network: [new WebSocketServerAdapter(server as unknown as AdapterServer)],
    // As the sync server is set up: a server syncs only the documents a peer asks for.
    sharePolicy: () => Promise.resolve(false),
  })
  const began = performance.now()
  const handles: DocHandle<Person>[] = []
  for (let start = 0; start < count; start += CREATE_BATCH) {
    const batch: DocHandle<Person>[] = []
    for (let i = start; i < Math.min(count, start + CREATE_BATCH); i++) {
      batch.push(repo.create<Person>(person(i)))
    }
    await repo.flush(batch.map((handle) => handle.documentId))
    handles.push(...batch)
    say(`created ${handles.length} ${peakRssMb()}`)
  }
  const root = repo.create<Root>({ persons: handles.map((handle) => handle.url) })
  await repo.flush([root.documentId])
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('no server address')
  say(`ready ws://127.0.0.1:${address.port} ${root.url} ${seconds(began)}`)

  for await (const line of createInterface({ input: process.stdin })) {
    const [command, k] = line.split(' ')
    const handle = handles[Number(k)]
    if (command !== 'edit' || handle === undefined) continue
    handle.change((doc) => {
      doc.title = String(Date.now())
    })
  }
}

/** Resolves once the client adapter has a peer, as `find` should not ask before. */
function connected(adapter: WebSocketClientAdapter): Promise<void> {
  return new Promise((resolve) => adapter.once('peer-candidate', () => resolve()))
}

async function findAll(
  repo: Repo,
  urls: AutomergeUrl[],
  concurrency: number,
): Promise<DocHandle<Person>[]> {
  const handles: DocHandle<Person>[] = new Array(urls.length)
  let nextIndex = 0
  let found = 0
  const worker = async () => {
    while (nextIndex < urls.length) {
      const i = nextIndex++
      handles[i] = await repo.find<Person>(urls[i]!)
      if (++found % PROGRESS_EVERY === 0) say(`progress ${found} ${peakRssMb()}`)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, urls.length) }, worker))
  return handles
}

async function fetchAll(
  dir: string,
  url: string,
  rootUrl: AutomergeUrl,
  concurrency: number,
  watch: number,
): Promise<void> {
  const began = performance.now()
  const adapter = new WebSocketClientAdapter(url)
  const repo = new Repo({ storage: new NodeFSStorageAdapter(dir), network: [adapter] })
  await connected(adapter)
  const root = await repo.find<Root>(rootUrl)
  const handles = await findAll(repo, [...root.doc().persons], concurrency)
  const persons = handles.filter((handle) => typeof handle.doc().lastName === 'string').length
  say(`synced ${seconds(began)} ${persons}`)
  await repo.flush()
  say(`stored ${seconds(began)}`)

  for (const handle of handles.slice(0, watch)) {
    handle.on('change', ({ doc }) => {
      const sent = Number(doc.title)
      if (sent > 1e12) say(`seen ${Date.now() - sent}`)
    })
  }
}

process.on('SIGTERM', () => {
  say(`rss ${peakRssMb()}`)
  process.exit(0)
})

const [role, dir, ...rest] = process.argv.slice(2) as [string, string, ...string[]]
try {
  if (role === 'a') await serve(dir, Number(rest[0]))
  else {
    const [url, rootUrl, concurrency, watch] = rest as [string, AutomergeUrl, string, string]
    await fetchAll(dir, url, rootUrl, Number(concurrency), Number(watch))
  }
} catch (error) {
  say(`error ${error instanceof Error ? error.message : String(error)}`)
  say(`rss ${peakRssMb()}`)
  process.exit(1)
}
