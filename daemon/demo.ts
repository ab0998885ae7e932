// `objectsync demo`: three instances in a temporary folder, on loopback, paired with each
// other. A person written with SQL at one reaches the others; two of them are stopped and
// each changes a different field of that person; once they are started again the edits
// merge field by field, and the merged row is read back from every SQLite file. Whatever
// the demo made is stopped and removed when it ends, also when it fails.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { silentLogger, type Logger } from '../src/log.ts'
import { loadConfig } from './config.ts'
import { initInstance } from './init.ts'
import { runDaemon, type Daemon } from './run.ts'

export interface DemoOptions {
  /** Receives the narration, one line at a time. */
  say: (line: string) => void
  /** The instances' logs (each namespaced by instance name); silent when absent. */
  logger?: Logger
  /** Stops the demo between steps and while it waits; it still cleans up. */
  signal?: AbortSignal
}

/** A row of the `persons` table, column → value, as better-sqlite3 returns it. */
export type PersonRow = Record<string, unknown>

export interface DemoResult {
  /** The temporary folder the instances lived in; removed by the time the demo returns. */
  root: string
  /** The merged person as each instance's SQLite file holds it, by instance name. */
  rows: Record<string, PersonRow>
}

const DEMO_INSTANCES = ['north', 'south', 'east'] as const
type InstanceName = (typeof DEMO_INSTANCES)[number]

/** The person north writes with SQL (columns of the default schema's `persons`). */
const DEMO_PERSON = {
  id: 'p-0001',
  first_name: 'Ada',
  last_name: 'Lovelace',
  email: 'ada@example.org',
  phone: '+44 20 7946 0000',
  title: 'Analyst',
} as const

/** The edits made while disconnected: a different field at each, so the merge keeps both. */
const DEMO_EDITS = {
  south: { column: 'phone', value: '+44 20 7946 0999' },
  east: { column: 'email', value: 'ada.lovelace@example.org' },
} as const satisfies Partial<Record<InstanceName, { column: string; value: string }>>

// On loopback a change settles in well under a second, and a restarted instance redials
// its peers at once; the bound is for slow CI machines, and turns a hang into an error.
const SYNC_TIMEOUT_MS = 20_000
// The daemon picks local changes up within a second; polling faster only costs reads.
const POLL_MS = 100
// The invites are used at once, by the demo itself.
const INVITE_TTL_MS = 60_000
// Our own short reads and writes wait this long for the daemon's writes to finish.
const BUSY_TIMEOUT_MS = 5000
const LOOPBACK_LISTEN = '/ip4/127.0.0.1/tcp/0'

interface DemoInstance {
  name: InstanceName
  dir: string
  /** The instance's SQLite file (config.json `local.path`). */
  database: string
  daemon: Daemon | undefined
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const log = options.logger ?? silentLogger
  const root = await mkdtemp(join(tmpdir(), 'objectsync-demo-'))
  const instances: DemoInstance[] = []
  let rows: Record<string, PersonRow>
  try {
    rows = await narrate(root, instances, options, log)
  } finally {
    await stopAll(instances, log)
    await rm(root, { recursive: true, force: true })
  }
  options.say(`Stopped the three instances and removed ${root}.`)
  return { root, rows }
}

/** The demo itself; the caller stops the instances and removes `root` afterwards. */
async function narrate(
  root: string,
  instances: DemoInstance[],
  { say, signal }: DemoOptions,
  log: Logger,
): Promise<Record<string, PersonRow>> {
  let current = 'setting up'
  let number = 0
  const step = (text: string) => {
    signal?.throwIfAborted()
    current = text
    say(`${++number}. ${text}`)
  }
  const waitFor = (what: string, check: () => boolean) => waitUntil(what, check, signal)
  try {
    step(`Making three instances (${DEMO_INSTANCES.join(', ')}) in ${root}`)
    for (const name of DEMO_INSTANCES) instances.push(await makeInstance(root, name))
    const [north, south, east] = instances as [DemoInstance, DemoInstance, DemoInstance]

    step('Starting them on loopback')
    for (const instance of instances) {
      const daemon = await start(instance, log)
      say(`   ${instance.name} listens on ${daemon.instance.transport.addresses().join(', ')}`)
    }

    step('Pairing each with the other two (invite, then pair)')
    for (const [inviter, joiner] of [
      [north, south],
      [north, east],
      [south, east],
    ] as const) {
      await pair(inviter, joiner)
      say(`   ${joiner.name} paired with ${inviter.name}`)
    }

    step(`North adds ${personName()} with SQL, straight into its SQLite file`)
    insertPerson(north)
    const inserted = Date.now()
    say(`   ${describePerson(DEMO_PERSON)}`)
    for (const other of [south, east]) {
      await waitFor(`${other.name} to receive the person`, () => readPerson(other) !== undefined)
      say(`   ${other.name} has the row ${seconds(Date.now() - inserted)} later`)
    }

    step('Stopping south and east: they are disconnected now')
    for (const instance of [south, east]) await stop(instance)

    step('While disconnected, each changes a different field of the same person with SQL')
    for (const [instance, edit] of [
      [south, DEMO_EDITS.south],
      [east, DEMO_EDITS.east],
    ] as const) {
      updatePerson(instance, edit.column, edit.value)
      say(`   ${instance.name} sets ${edit.column} to ${edit.value}`)
    }

    step('Starting south and east again: they reconnect and merge')
    const restarted = Date.now()
    for (const instance of [south, east]) await start(instance, log)
    await waitFor('all three to hold both edits', () =>
      instances.map(readPerson).every(hasBothEdits),
    )
    say(`   all three rows hold both edits ${seconds(Date.now() - restarted)} later`)

    step("The merged row, read from each instance's SQLite file")
    const rows: Record<string, PersonRow> = {}
    for (const instance of instances) {
      const row = readPerson(instance)
      if (row === undefined) throw new Error(`${instance.name} no longer has the person`)
      rows[instance.name] = row
      say(`   ${`${instance.name}:`.padEnd(7)}${describePerson(row)}`)
    }
    return rows
  } catch (error) {
    const message =
      signal?.aborted === true
        ? `the demo was interrupted at step ${number}`
        : `the demo failed at step ${number} ("${current}"): ${(error as Error).message}`
    throw new Error(message, { cause: error })
  }
}

// ── instances ──────────────────────────────────────────────────────────────────────

/** `objectsync init` on any free ports, listening on loopback only. */
async function makeInstance(root: string, name: InstanceName): Promise<DemoInstance> {
  const dir = join(root, name)
  await initInstance(dir, { name, apiPort: 0, listen: [LOOPBACK_LISTEN] })
  const { local } = await loadConfig(dir)
  if (local.kind !== 'sqlite') throw new Error('the demo runs on SQLite local systems')
  return { name, dir, database: resolve(dir, local.path), daemon: undefined }
}

/** Starts the instance as `objectsync start` does: its config read afresh from its folder. */
async function start(instance: DemoInstance, log: Logger): Promise<Daemon> {
  const config = await loadConfig(instance.dir)
  instance.daemon = await runDaemon(instance.dir, config, log.child(instance.name))
  return instance.daemon
}

async function stop(instance: DemoInstance): Promise<void> {
  const daemon = instance.daemon
  instance.daemon = undefined
  await daemon?.stop()
}

/** Stops whatever still runs, in reverse order; a failure to stop one does not keep the rest. */
async function stopAll(instances: readonly DemoInstance[], log: Logger): Promise<void> {
  for (const instance of [...instances].reverse()) {
    await stop(instance).catch((error: unknown) =>
      log.warn({ instance: instance.name, err: error }, 'could not stop the instance'),
    )
  }
}

/** Pairs as `POST /v1/invites` at the inviter and `POST /v1/pair` at the joiner do. */
async function pair(inviter: DemoInstance, joiner: DemoInstance): Promise<void> {
  const token = running(inviter).instance.links.createInvite(INVITE_TTL_MS)
  const peer = await running(joiner).instance.links.pair(token)
  running(joiner).instance.engine.connect(peer.id)
}

function running(instance: DemoInstance): Daemon {
  if (instance.daemon === undefined) throw new TypeError(`${instance.name} is not running`)
  return instance.daemon
}

// ── the SQLite files, through connections of our own ──────────────────────────────────

function withDatabase<T>(instance: DemoInstance, use: (db: Database.Database) => T): T {
  const db = new Database(instance.database, { fileMustExist: true })
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    return use(db)
  } finally {
    db.close()
  }
}

function insertPerson(instance: DemoInstance): void {
  withDatabase(instance, (db) =>
    db
      .prepare(
        `INSERT INTO persons(id, first_name, last_name, email, phone, title)
         VALUES (@id, @first_name, @last_name, @email, @phone, @title)`,
      )
      .run(DEMO_PERSON),
  )
}

/**
 * The person as the instance's SQLite file holds it. Found by name: each local system
 * keeps its own ids, so the row's id need not be the same at each instance.
 */
function readPerson(instance: DemoInstance): PersonRow | undefined {
  return withDatabase(
    instance,
    (db) =>
      db
        .prepare('SELECT * FROM persons WHERE first_name = ? AND last_name = ?')
        .get(DEMO_PERSON.first_name, DEMO_PERSON.last_name) as PersonRow | undefined,
  )
}

function updatePerson(instance: DemoInstance, column: string, value: string): void {
  const row = readPerson(instance)
  if (row === undefined) throw new Error(`${instance.name} does not have the person`)
  withDatabase(instance, (db) =>
    // `column` is one of DEMO_EDITS' own column names, never outside input.
    db.prepare(`UPDATE persons SET "${column}" = ? WHERE id = ?`).run(value, row.id),
  )
}

function hasBothEdits(row: PersonRow | undefined): boolean {
  return (
    row !== undefined && Object.values(DEMO_EDITS).every((edit) => row[edit.column] === edit.value)
  )
}

// ── narration ──────────────────────────────────────────────────────────────────────

/** Resolves once `check` holds; throws when it still does not after SYNC_TIMEOUT_MS. */
async function waitUntil(what: string, check: () => boolean, signal?: AbortSignal): Promise<void> {
  const started = Date.now()
  while (!check()) {
    signal?.throwIfAborted()
    if (Date.now() - started > SYNC_TIMEOUT_MS) {
      throw new Error(`waited ${seconds(SYNC_TIMEOUT_MS)} for ${what}, in vain`)
    }
    await sleep(POLL_MS)
  }
}

function personName(): string {
  return `${DEMO_PERSON.first_name} ${DEMO_PERSON.last_name}`
}

function describePerson(row: PersonRow): string {
  const text = (column: string) => {
    const value = row[column]
    return typeof value === 'string' || typeof value === 'number' ? String(value) : '–'
  }
  return `${text('first_name')} ${text('last_name')}, email ${text('email')}, phone ${text('phone')}, title ${text('title')} (local id ${text('id')})`
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}
