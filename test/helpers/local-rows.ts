// The rows of daemons' local systems (local.db) in the campaigns with real daemons: a
// writer per instance that inserts and updates rows of its own as another program would,
// and the final check that every local system holds exactly the rows the writers had
// acknowledged, each once, with its last value.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'vitest'
import type { MeshDaemon } from './daemon-mesh.ts'

export interface PersonRow {
  first: string
  last: string
  title: string
}

export interface LocalWriterOptions {
  /** Names its rows: emails `<daemon>-<n>@<label>.test`, last name `<Label>`. */
  label: string
  /** One insert or update this often. */
  everyMs: number
  /** The share of steps that insert a row (the others update one). */
  insertShare: number
  /** Once it has this many rows it only updates them (no limit when absent). */
  maxRows?: number
}

/**
 * Inserts and updates rows of its own in one local.db until stopped, through a separate
 * better-sqlite3 connection, as another program would. `acknowledged` holds, per row (by
 * email), what SQLite said it committed last.
 */
export class LocalWriter {
  readonly acknowledged = new Map<string, PersonRow>()
  readonly stats = { inserts: 0, updates: 0, busy: 0, longestStepMs: 0 }
  private inserting = true
  private readonly db: Database.Database
  private timer: NodeJS.Timeout | undefined
  private count = 0
  private readonly lastName: string

  constructor(
    private readonly daemon: MeshDaemon,
    private readonly next: () => number,
    private readonly options: LocalWriterOptions,
  ) {
    this.db = new Database(join(daemon.dir, 'local.db'))
    this.db.pragma('busy_timeout = 5000')
    this.lastName = options.label[0]!.toUpperCase() + options.label.slice(1)
  }

  /** Inserts `count` rows at once (a local system that holds rows before the daemon starts). */
  preload(count: number): void {
    for (let row = 0; row < count; row++) {
      this.count++
      this.insert()
    }
  }

  start(): void {
    this.timer = setInterval(() => this.step(), this.options.everyMs)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** From now on only updates: the rows it has are all it will have. */
  stopInserting(): void {
    this.inserting = false
  }

  close(): void {
    this.db.close()
  }

  private step(): void {
    const began = Date.now()
    const rows = [...this.acknowledged.keys()]
    const full =
      !this.inserting || (this.options.maxRows !== undefined && rows.length >= this.options.maxRows)
    this.count++
    try {
      if (rows.length === 0 || (!full && this.next() < this.options.insertShare)) {
        this.insert()
      } else {
        this.update(rows[Math.floor(this.next() * rows.length)]!)
      }
    } catch (error) {
      // Busy past the timeout (the daemon writing): not acknowledged, so not expected.
      if (!(error instanceof Error && /busy|locked/i.test(error.message))) throw error
      this.stats.busy++
    }
    // The steps block this process's event loop (better-sqlite3 is synchronous): say how long.
    this.stats.longestStepMs = Math.max(this.stats.longestStepMs, Date.now() - began)
  }

  private insert(): void {
    const name = this.daemon.name
    const email = `${name}-${this.count}@${this.options.label}.test`
    const row = { first: `${name}${this.count}`, last: this.lastName, title: 't0' }
    this.db
      .prepare(
        'INSERT INTO persons (id, first_name, last_name, email, title) VALUES (?, ?, ?, ?, ?)',
      )
      .run(`${name}-${this.count}`, row.first, row.last, email, row.title)
    this.acknowledged.set(email, row)
    this.stats.inserts++
  }

  private update(email: string): void {
    const title = `t${this.count}`
    const changed = this.db
      .prepare('UPDATE persons SET title = ? WHERE email = ?')
      .run(title, email).changes
    if (changed === 1) {
      this.acknowledged.set(email, { ...this.acknowledged.get(email)!, title })
      this.stats.updates++
    }
  }
}

export type EmailedRow = PersonRow & { email: string }

export function rowsOf(daemon: MeshDaemon): EmailedRow[] {
  const db = new Database(join(daemon.dir, 'local.db'), { readonly: true })
  try {
    return db
      .prepare(
        'SELECT email, first_name AS first, last_name AS last, title FROM persons ORDER BY email',
      )
      .all() as EmailedRow[]
  } finally {
    db.close()
  }
}

export function rowCount(daemon: MeshDaemon): number {
  const db = new Database(join(daemon.dir, 'local.db'), { readonly: true })
  try {
    return (db.prepare('SELECT count(*) AS n FROM persons').get() as { n: number }).n
  } finally {
    db.close()
  }
}

/** Every row the writers acknowledged, with its last value, ordered by email. */
export function acknowledgedRows(writers: readonly LocalWriter[]): EmailedRow[] {
  return writers
    .flatMap((writer) => [...writer.acknowledged].map(([email, row]) => ({ email, ...row })))
    .sort((a, b) => (a.email < b.email ? -1 : 1))
}

/**
 * Waits up to `timeoutMs` for every local system to hold exactly `acknowledgedRows`, then
 * checks each: no row twice, none missing, none unexpected, each with its last value.
 * `context` (the seed, say) goes into the failure's message. Returns how long it waited.
 */
export async function expectConverged(
  daemons: readonly MeshDaemon[],
  writers: readonly LocalWriter[],
  context: string,
  timeoutMs: number,
): Promise<number> {
  const want = acknowledgedRows(writers)
  const wanted = JSON.stringify(want)
  const began = Date.now()
  while (
    !daemons.every((daemon) => JSON.stringify(rowsOf(daemon)) === wanted) &&
    Date.now() - began < timeoutMs
  ) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const waited = Date.now() - began
  for (const daemon of daemons) {
    const rows = rowsOf(daemon)
    const emails = rows.map((row) => row.email)
    const twice = emails.filter((email, index) => emails.indexOf(email) !== index)
    expect(
      twice,
      `no row twice at ${daemon.name} (${context}): ${describeRows(daemon, twice)}`,
    ).toEqual([])
    expect(
      differences(rows, want),
      `${daemon.name} holds every acknowledged write and nothing else (${context}); its log ends:\n${daemon.output.slice(-3_000)}`,
    ).toEqual([])
  }
  return waited
}

/** How `rows` differ from `want`, one line per row (the first 20, then how many more). */
function differences(rows: readonly EmailedRow[], want: readonly EmailedRow[]): string[] {
  const held = new Map(rows.map((row) => [row.email, row]))
  const wanted = new Map(want.map((row) => [row.email, row]))
  const lines: string[] = []
  for (const [email, row] of wanted) {
    const found = held.get(email)
    if (found === undefined) lines.push(`missing ${JSON.stringify(row)}`)
    else if (JSON.stringify(found) !== JSON.stringify(row)) {
      lines.push(
        `stale ${email}: holds ${JSON.stringify(found)}, acknowledged ${JSON.stringify(row)}`,
      )
    }
  }
  for (const [email, row] of held) {
    if (!wanted.has(email)) lines.push(`unexpected ${JSON.stringify(row)}`)
  }
  return lines.length <= 20 ? lines : [...lines.slice(0, 20), `… and ${lines.length - 20} more`]
}

/** The rows of these emails, with their keys, and the daemon's log, for a failure's message. */
function describeRows(daemon: MeshDaemon, emails: string[]): string {
  if (emails.length === 0) return ''
  const db = new Database(join(daemon.dir, 'local.db'), { readonly: true })
  try {
    const rows = emails.flatMap((email) =>
      db.prepare('SELECT id, email, title FROM persons WHERE email = ?').all(email),
    )
    return `${JSON.stringify(rows)}\nits log ends:\n${daemon.output.slice(-4_000)}`
  } finally {
    db.close()
  }
}
