// One side of the PouchDB comparison (bench/compare/pouchdb.ts starts two).
//   pouchdb-peer.ts a <dir> <count>
//     Writes <count> persons into a PouchDB database (LevelDB, in <dir>) and serves it over
//     HTTP on loopback with express-pouchdb; prints "created <n> <rss MB>" on the way and
//     "ready <database url> <seconds>" once listening.
//   pouchdb-peer.ts b <dir> <database url>
//     Replicates that database into an empty one of its own (LevelDB, in <dir>) with
//     PouchDB's defaults; prints "progress <docs written> <rss MB>" on the way, "synced
//     <seconds> <docs>" (its database's doc_count) once the replication has completed,
//     then "rss <MB>", and ends.
// Both print "error <message>" and exit on a failure, and "rss <MB>" on SIGTERM.
import { once } from 'node:events'
import { mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import express from 'express'
import expressPouchDB from 'express-pouchdb'
import PouchDB from 'pouchdb'
import { person } from '../people.ts'
import { peakRssMb } from './peer-process.ts'

type Person = ReturnType<typeof person>

// bulkDocs batches for A's writes, the size PouchDB's replication writes in (batch_size
// 100 times batches_limit 10).
const WRITE_BATCH = 1000
const PROGRESS_EVERY = 1000

const say = (line: string) => process.stdout.write(line + '\n')
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(2)

async function serve(dir: string, count: number): Promise<void> {
  const Database = PouchDB.defaults({ prefix: join(dir, '/') })
  const db = new Database<Person>('persons')
  const began = performance.now()
  for (let start = 0; start < count; start += WRITE_BATCH) {
    const batch: Person[] = []
    for (let i = start; i < Math.min(count, start + WRITE_BATCH); i++) batch.push(person(i))
    await db.bulkDocs(batch)
    say(`created ${start + batch.length} ${peakRssMb()}`)
  }
  const createSeconds = seconds(began)
  const app = express()
  app.use('/', expressPouchDB(Database, { mode: 'minimumForPouchDB' }))
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  say(`ready http://127.0.0.1:${port}/persons ${createSeconds}`)
}

async function replicate(dir: string, url: string): Promise<void> {
  const began = performance.now()
  const Database = PouchDB.defaults({ prefix: join(dir, '/') })
  const local = new Database<Person>('persons')
  let reported = 0
  await local.replicate.from(url).on('change', (info) => {
    if (info.docs_written - reported >= PROGRESS_EVERY) {
      reported = info.docs_written
      say(`progress ${reported} ${peakRssMb()}`)
    }
  })
  const seconds_ = seconds(began)
  const { doc_count } = await local.info()
  say(`synced ${seconds_} ${doc_count}`)
  say(`rss ${peakRssMb()}`)
}

process.on('SIGTERM', () => {
  say(`rss ${peakRssMb()}`)
  process.exit(0)
})

const [role, dir, arg] = process.argv.slice(2) as [string, string, string]
try {
  mkdirSync(dir, { recursive: true })
  if (role === 'a') await serve(dir, Number(arg))
  else await replicate(dir, arg)
} catch (error) {
  say(`error ${error instanceof Error ? error.message : String(error)}`)
  say(`rss ${peakRssMb()}`)
  process.exit(1)
}
