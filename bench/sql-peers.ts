// The two processes of the SQLite-to-SQLite benchmarks, each with its local system: both
// local.db files (or a PostgreSQL database for either side) made and rows written into
// them with SQL (as an import would) before either daemon starts, A started and its first run awaited, then B started and dialing
// A. This process is "another program": it reads and writes the files on connections of
// its own, which are closed, the processes killed and the folders removed however a run
// ends.
import Database from 'better-sqlite3'
import { rmSync, writeFileSync } from 'node:fs'
import pg from 'pg'
import { join } from 'node:path'
import { createLocalDatabase, createPostgresSchema } from '../src/local/index.ts'
import { person } from './people.ts'
import { exited, instances, spawnPeer, type Peers } from './sync-processes.ts'

/** Person i as a row of the default schema's persons, in PERSON_COLUMNS' order. */
function personRow(i: number, idPrefix: string): unknown[] {
  const fields = person(i)
  return [
    `${idPrefix}${i}`,
    fields.firstName,
    fields.lastName,
    fields.email,
    fields.phone,
    fields.birthday,
    fields.title,
    (fields.roles as string[]).join(','),
  ]
}

const PERSON_COLUMNS = 'id, first_name, last_name, email, phone, birthday, title, role'

/**
 * Inserts persons 0..count-1 as rows `<idPrefix><i>` (default `p<i>`) in one transaction,
 * as an import would. Another instance's rows of the same persons under other ids are
 * the same people to matching (names, email and birthday equal).
 */
export function insertPersons(path: string, count: number, idPrefix = 'p'): void {
  const db = new Database(path)
  try {
    const insert = db.prepare(
      `INSERT INTO persons(${PERSON_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        insert.run(...personRow(i, idPrefix))
      }
    })()
  } finally {
    db.close()
  }
}

/** As insertPersons, into a PostgreSQL database's default schema (1,000 rows a statement). */
export async function insertPersonsPostgres(
  url: string,
  count: number,
  idPrefix = 'p',
): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('BEGIN')
    for (let start = 0; start < count; start += 1000) {
      const values: unknown[] = []
      const tuples: string[] = []
      for (let i = start; i < Math.min(count, start + 1000); i++) {
        const row = personRow(i, idPrefix)
        tuples.push(`(${row.map((_, k) => `$${values.length + k + 1}`).join(', ')})`)
        values.push(...row)
      }
      await client.query(
        `INSERT INTO persons(${PERSON_COLUMNS}) VALUES ${tuples.join(', ')}`,
        values,
      )
    }
    await client.query('COMMIT')
  } finally {
    await client.end()
  }
}

export interface SqlPeersSetup {
  /** The temporary folder's name prefix. */
  prefix: string
  /** Persons in A's table (rows `p<i>`) before A starts. */
  personsAtA: number
  /** Persons 0..n-1 in B's table (rows `b<i>`) before B starts (default none). */
  personsAtB?: number
  /** Store entries B waits for before it says `synced`. */
  expectAtB: number
  /** LocalSync's poll interval on both sides (ms). */
  pollMs: number
  /** Both sides say when they have nothing left to do (`idle`, `busy`: bench/idle-report.ts). */
  reportIdle?: boolean
  /**
   * A side whose local system is this PostgreSQL database (default schema made, its rows
   * written there) instead of its SQLite file.
   */
  postgresA?: string
  postgresB?: string
}

export interface SqlPeers {
  peers: Peers
  fileA: string
  fileB: string
  /** Each side's first run: LocalSync.start() taking in the rows of its table. */
  ingestSecondsA: number
  ingestSecondsB: number
  /** When B dialed A (epoch ms, B's clock: the same machine's). */
  dialed: number
  /** A connection of this process to `file` (read-only unless asked), closed with the run. */
  connect: (file: string, options?: { write?: boolean }) => Database.Database
  /** Stops B (its data folder stays); resolves with its peak RSS (MB). */
  stopB: () => Promise<number>
  /** Starts B again on its folder, dialing A; resolves when it dials (epoch ms). */
  startB: () => Promise<number>
}

/** Runs `body` with both sides started and B dialing A; stops everything after it. */
export async function withSqlPeers<T>(
  setup: SqlPeersSetup,
  body: (sql: SqlPeers) => Promise<T>,
): Promise<T> {
  const { dir, dirA, dirB, idA, idB, key } = await instances(setup.prefix)
  const [fileA, fileB] = [join(dirA, 'local.db'), join(dirB, 'local.db')]
  const local = [String(setup.pollMs), ...(setup.reportIdle === true ? ['idle'] : [])]
  for (const [dirOf, file, url, persons, prefix] of [
    [dirA, fileA, setup.postgresA, setup.personsAtA, 'p'],
    [dirB, fileB, setup.postgresB, setup.personsAtB ?? 0, 'b'],
  ] as const) {
    if (url === undefined) {
      createLocalDatabase(file)
      insertPersons(file, persons, prefix)
    } else {
      writeFileSync(join(dirOf, 'local.url'), url)
      await createPostgresSchema(url)
      await insertPersonsPostgres(url, persons, prefix)
    }
  }
  const a = spawnPeer([dirA, 'a', idB, '-', key, '0', '0', ...local])
  const open: Database.Database[] = []
  const connect = (file: string, options: { write?: boolean } = {}) => {
    const db = new Database(file, { readonly: options.write !== true })
    open.push(db)
    db.pragma('busy_timeout = 5000')
    return db
  }
  try {
    const ingestSecondsA = await figureOf(a.next('ingested '))
    const address = (await a.next('ready ')).slice('ready '.length)
    const spawnB = () =>
      spawnPeer([dirB, 'b', idA, address, key, '0', String(setup.expectAtB), ...local])
    const peers = { a, b: spawnB() }
    try {
      const ingestSecondsB = await figureOf(peers.b.next('ingested '))
      const dialed = await figureOf(peers.b.next('dialed '))
      const stopB = async () => {
        peers.b.child.kill('SIGTERM')
        const rss = Number((await peers.b.next('rss ')).slice(4))
        await exited(peers.b.child)
        return rss
      }
      const startB = async () => {
        peers.b = spawnB()
        return figureOf(peers.b.next('dialed '))
      }
      return await body({
        peers,
        fileA,
        fileB,
        ingestSecondsA,
        ingestSecondsB,
        dialed,
        connect,
        stopB,
        startB,
      })
    } finally {
      peers.b.child.kill('SIGKILL')
    }
  } finally {
    for (const db of open) db.close()
    a.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The number after a line's first word: "ingested 2.54" → 2.54. */
async function figureOf(line: Promise<string>): Promise<number> {
  const text = await line
  return Number(text.slice(text.indexOf(' ') + 1))
}
