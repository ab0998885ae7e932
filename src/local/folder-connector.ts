// A folder of vCard files as the local system: the address book a person exports and
// imports (Apple Contacts, Thunderbird, Nextcloud), one or many cards per `.vcf`. Its
// records are the default schema's `persons` and `organizations` (folder/vcards.ts), its
// custom fields X-OBJECTSYNC-CUSTOM properties, its groups the cards' CATEGORIES.
//
// Changes by anyone are found by reading the folder again at each poll (every second in
// the daemon) and at once when chokidar says a file changed (a wake-up, as PostgreSQL's
// NOTIFY). Only files whose size or time changed are parsed again, and each of their records is compared with how it read
// before: what differs is logged as a change, in memory. What changed while the daemon
// was stopped is found by the compare of every record the first poll asks for
// (`repairChangeCapture` says 'triggers' once). The daemon's own writes are written to a
// temporary file renamed over the old one (a reader never sees half a file), and read
// back into what the connector knows before anything looks again: never taken back in.
import { existsSync } from 'node:fs'
import { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { watch, type FSWatcher } from 'chokidar'
import { ObjectSyncError } from '../errors.ts'
import {
  type BadRow,
  type Connector,
  type CustomValues,
  type LocalChange,
  type LocalRow,
  type ReadRecord,
  type RowWrite,
} from './connector.ts'
import {
  changedRecords,
  indexRecords,
  tableOf,
  type FileState,
  type Held,
  type Records,
} from './folder/records.ts'
import type { FolderFormat, FolderTable } from './folder/format.ts'
import { VCARD_FORMAT } from './folder/vcards.ts'
import type { EntityMapping } from './mapping/index.ts'

/** How often the daemon reads the folder without a wake-up from its watcher. */
export const FOLDER_POLL_MS = 1000
/** Coarser than any file system's modification times (FAT's are 2 s). */
const SETTLED_MS = 3000
const TEMPORARY = '.objectsync-writing'

export class FolderConnector implements Connector {
  private files = new Map<string, FileState>()
  private records: Records = {
    persons: new Map(),
    organizations: new Map(),
  }
  private changes: LocalChange[] = []
  private seq = 0
  private watcher: FSWatcher | undefined
  private readonly listeners = new Set<() => void>()
  private compareFirst = true
  /** Cards whose UID a card before them took (in file order). */
  private duplicates: BadRow[] = []
  /** One read or write of the folder at a time. */
  private work: Promise<unknown> = Promise.resolve()

  constructor(
    readonly path: string,
    private readonly format: FolderFormat = VCARD_FORMAT,
  ) {}

  get description(): string {
    return `${this.format.name} folder ${this.path}`
  }

  async open(_entities: readonly EntityMapping[]): Promise<void> {
    if (!existsSync(this.path)) {
      throw new ObjectSyncError('LOCAL_SYSTEM_IO', `${this.description} does not exist`)
    }
    await this.serial(() => this.scan(false))
    this.watcher = watch(this.path, {
      ignoreInitial: true,
      depth: 0,
      ignored: (file) => file.endsWith(TEMPORARY),
    })
    this.watcher.on('all', () => {
      for (const listener of this.listeners) listener()
    })
    // A watcher that fails leaves the poll, which reads the folder every time.
    this.watcher.on('error', () => {})
  }

  async close(): Promise<void> {
    await this.watcher?.close()
    this.watcher = undefined
  }

  onChanges(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Once after open: what changed while the daemon was stopped is found by a compare. */
  repairChangeCapture(): Promise<'intact' | 'triggers' | 'log'> {
    const first = this.compareFirst
    this.compareFirst = false
    return Promise.resolve(first ? 'triggers' : 'intact')
  }

  async changesSince(cursor: number, limit = 1000): Promise<LocalChange[]> {
    await this.serial(() => this.scan(true))
    return this.changes.filter((change) => change.seq > cursor).slice(0, limit)
  }

  acknowledge(cursor: number): Promise<void> {
    this.changes = this.changes.filter((change) => change.seq > cursor)
    return Promise.resolve()
  }

  read(entity: EntityMapping, key: string): Promise<LocalRow | undefined> {
    const held = this.held(entity, key)
    return Promise.resolve(held === undefined ? undefined : { ...held.row })
  }

  async *readAll(entity: EntityMapping): AsyncIterable<LocalRow> {
    const table = tableOf(entity)
    if (table === undefined) return
    for (const held of [...this.records[table].values()])
      yield await Promise.resolve({ ...held.row })
  }

  readCustom(key: string): Promise<CustomValues> {
    const held = this.records.persons.get(key) ?? this.records.organizations.get(key)
    return Promise.resolve({ ...held?.custom })
  }

  async write(
    entity: EntityMapping,
    key: string,
    row: LocalRow,
    custom?: CustomValues,
  ): Promise<void> {
    await this.writeMany(entity, [{ key, row, custom, unchanged: () => true }])
  }

  async writeMany(
    entity: EntityMapping,
    writes: readonly RowWrite[],
  ): Promise<(ReadRecord | 'changed')[]> {
    const table = this.writable(entity)
    return this.serial(async () => {
      await this.scan(true)
      const dirty = new Set<string>()
      const results = writes.map((write): ReadRecord | 'changed' => {
        const held = this.records[table].get(write.key)
        const now = this.recordOf(held, entity)
        if (!write.unchanged(now)) return 'changed'
        dirty.add(this.apply(table, write.key, held, { row: write.row, custom: write.custom }))
        return now
      })
      await this.flush(dirty)
      return results.map((result, index) =>
        result === 'changed'
          ? result
          : this.recordOf(this.records[table].get(writes[index]!.key), entity),
      )
    })
  }

  async remove(entity: EntityMapping, key: string): Promise<void> {
    const table = this.writable(entity)
    await this.serial(async () => {
      await this.scan(true)
      const held = this.records[table].get(key)
      if (held?.file === undefined || held.entry === undefined) return
      const state = this.files.get(held.file)!
      state.entries = state.entries.filter((entry) => entry !== held.entry)
      await this.flush(new Set([held.file]))
    })
  }

  async *groupMembers(): AsyncIterable<{ group: string; key: string }> {
    for (const records of Object.values(this.records)) {
      for (const [key, held] of [...records]) {
        for (const group of held.groups) yield await Promise.resolve({ group, key })
      }
    }
  }

  groupsOf(key: string): Promise<string[]> {
    const held = this.records.persons.get(key) ?? this.records.organizations.get(key)
    return Promise.resolve([...(held?.groups ?? [])].sort())
  }

  async changeGroups(
    key: string,
    change: { join?: readonly string[]; leave?: readonly string[] },
  ): Promise<void> {
    await this.serial(async () => {
      await this.scan(true)
      const table: FolderTable = this.records.persons.has(key) ? 'persons' : 'organizations'
      const held = this.records[table].get(key)
      if (held === undefined) return
      const groups = new Set(held.groups)
      for (const group of change.join ?? []) groups.add(group)
      for (const group of change.leave ?? []) groups.delete(group)
      await this.flush(new Set([this.apply(table, key, held, { groups: [...groups].sort() })]))
    })
  }

  /** Files that could not be read, as bad rows: the file and line, and why. */
  badRows(): BadRow[] {
    return [...[...this.files.values()].flatMap((state) => state.problems), ...this.duplicates]
  }

  // ── reading the folder ──────────────────────────────────────────────────────────

  /**
   * Reads the files whose size or time changed (all of them with `logChanges` false, at
   * open) and logs each record that reads differently now.
   */
  private async scan(logChanges: boolean): Promise<void> {
    const names = await this.guard('read', async () =>
      (await readdir(this.path)).filter((name) =>
        name.toLowerCase().endsWith(this.format.extension),
      ),
    )
    let changed = false
    for (const name of names) {
      const info = await stat(join(this.path, name)).catch(() => undefined)
      if (info === undefined) continue
      const known = this.files.get(name)
      // A file changed within the file system's time resolution may keep its time and size
      // (an edit of a few letters): read again until it is older than that.
      const settled = Date.now() - info.mtimeMs > SETTLED_MS
      if (known?.size === info.size && known.mtimeMs === info.mtimeMs && settled) continue
      const bytes = await readFile(join(this.path, name)).catch(() => undefined)
      if (bytes === undefined) continue
      this.files.set(name, { size: info.size, mtimeMs: info.mtimeMs, ...this.parse(name, bytes) })
      changed = true
    }
    for (const name of [...this.files.keys()]) {
      if (!names.includes(name)) {
        this.files.delete(name)
        changed = true
      }
    }
    if (changed) this.index(logChanges)
  }

  private parse(
    file: string,
    bytes: Buffer,
  ): { entries: FileState['entries']; problems: BadRow[]; meta: unknown } {
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
    } catch {
      const problems = [this.problem(file, 1, 'not UTF-8 text (save it as UTF-8)')]
      return { entries: [], problems, meta: this.format.emptyMeta() }
    }
    const read = this.format.read(basename(file, this.format.extension), text)
    return {
      entries: read.entries,
      problems: read.problems.map((problem) => this.problem(file, problem.line, problem.problem)),
      meta: read.meta,
    }
  }

  private problem(file: string, line: number, problem: string): BadRow {
    return {
      table: 'persons',
      key: `${file}:${line}`,
      column: undefined,
      problem: `${file}, line ${line}: ${problem}`,
    }
  }

  /** The records as the files hold them now; with `logChanges`, each that differs is logged. */
  private index(logChanges: boolean): void {
    const before = this.records
    const indexed = indexRecords(this.files, (file, line, problem) =>
      this.problem(file, line, problem),
    )
    this.records = indexed.records
    this.duplicates = indexed.duplicates
    if (!logChanges) return
    for (const [table, key] of changedRecords(before, this.records)) {
      this.changes.push({ seq: ++this.seq, table, key, at: Date.now() })
    }
  }

  // ── writing ─────────────────────────────────────────────────────────────────────

  /** Applies a write to the record's card (a new card in a file of its own); returns its file. */
  private apply(
    table: FolderTable,
    key: string,
    held: Held | undefined,
    content: { row?: LocalRow; custom?: CustomValues | undefined; groups?: string[] },
  ): string {
    const organizationId = content.row?.organization_id
    const organizationName =
      typeof organizationId === 'string'
        ? (this.records.organizations.get(organizationId)?.row.name as string | undefined)
        : undefined
    const entryContent = {
      table,
      row: content.row ?? {},
      custom: content.custom,
      groups: content.groups,
      organizationName,
    }
    if (held?.entry !== undefined && held.file !== undefined) {
      this.format.update(held.entry, entryContent, this.files.get(held.file)!.meta)
      return held.file
    }
    const file = this.format.newFile(key, [...this.files.keys()].sort())
    const state = this.files.get(file) ?? {
      size: -1,
      mtimeMs: -1,
      entries: [],
      problems: [],
      meta: this.format.emptyMeta(),
    }
    const groups = content.groups ?? held?.groups
    const handle = this.format.create(key, { ...entryContent, groups }, state.meta)
    state.entries.push({
      handle,
      line: 0,
      table,
      key,
      row: {},
      custom: {},
      groups: [],
      organization: '',
    })
    this.files.set(file, state)
    return file
  }

  /**
   * Writes each file from its cards (a temporary file renamed over it; an empty one is
   * removed), then reads them back as what the connector knows: the daemon's own writes
   * are never logged as changes.
   */
  private async flush(files: ReadonlySet<string>): Promise<void> {
    for (const file of files) {
      const state = this.files.get(file)
      if (state === undefined) continue
      const target = join(this.path, file)
      await this.guard(`write ${file}`, async () => {
        if (state.entries.length === 0) {
          await unlink(target).catch(() => {})
          this.files.delete(file)
          return
        }
        const handles = state.entries.map((entry) => entry.handle)
        const temporary = `${target}${TEMPORARY}`
        await writeFile(temporary, this.format.write(handles, state.meta))
        await rename(temporary, target)
        const info = await stat(target)
        const bytes = await readFile(target)
        this.files.set(file, { size: info.size, mtimeMs: info.mtimeMs, ...this.parse(file, bytes) })
      })
    }
    this.index(false)
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────

  private held(entity: EntityMapping, key: string): Held | undefined {
    const table = tableOf(entity)
    return table === undefined ? undefined : this.records[table].get(key)
  }

  private recordOf(held: Held | undefined, entity: EntityMapping): ReadRecord {
    return {
      row: held === undefined ? undefined : { ...held.row },
      custom: entity.customFieldsTable ? { ...held?.custom } : undefined,
    }
  }

  private writable(entity: EntityMapping): FolderTable {
    const table = tableOf(entity)
    if (table === undefined) {
      throw new ObjectSyncError(
        'LOCAL_SYSTEM_IO',
        `${this.description} holds persons and organizations only, not ${entity.table}`,
      )
    }
    return table
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.work.then(work, work)
    this.work = next.catch(() => {})
    return next
  }

  private async guard<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      if (error instanceof ObjectSyncError) throw error
      throw new ObjectSyncError(
        'LOCAL_SYSTEM_IO',
        `${this.description}: could not ${what}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      )
    }
  }
}
