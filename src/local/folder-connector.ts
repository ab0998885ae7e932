// A folder of contact files as the local system: the address book a person exports and
// imports — vCard files (Apple Contacts, Thunderbird, Nextcloud; folder/vcards.ts) or
// Google Contacts CSV exports (folder/google-csv.ts). Its records are the default
// schema's `persons` and `organizations`, with custom fields and groups.
//
// Changes by anyone are found by reading the folder again at each poll (every second in
// the daemon) and at once when chokidar says a file changed (a wake-up, as PostgreSQL's
// NOTIFY). Only files whose size or time changed are parsed again, and each of their
// records is compared with how it read before: what differs is logged as a change, in
// memory. The log starts anew at each open (`repairChangeCapture` says so once): what
// changed while the daemon was stopped is found by comparing every record. Reading and
// writing the files, and what is kept while a file is unsure (half written, gone for a
// moment, with parts that don't read): folder/folder-files.ts.
import { existsSync } from 'node:fs'
import { watch, type FSWatcher } from 'chokidar'
import { ObjectSyncError } from '../errors.ts'
import type {
  BadRow,
  Connector,
  CustomValues,
  LocalChange,
  LocalRow,
  ReadRecord,
  RowWrite,
} from './connector.ts'
import { FolderFiles, TEMPORARY } from './folder/folder-files.ts'
import type { EntryContent, FolderFormat, FolderTable } from './folder/format.ts'
import { changedRecords, indexRecords, tableOf, type Held, type Records } from './folder/records.ts'
import { VCARD_FORMAT } from './folder/vcards.ts'
import type { ObjectType } from '../model/index.ts'
import { defaultEntity, type EntityMapping } from './mapping/index.ts'

/** A folder's mapping: the default schema's persons and organizations (formats fix the rest). */
export function folderMapping(): Map<ObjectType, EntityMapping> {
  return new Map((['person', 'organization'] as const).map((type) => [type, defaultEntity(type)]))
}

/** How often the daemon reads the folder without a wake-up from its watcher. */
export const FOLDER_POLL_MS = 1000

export class FolderConnector implements Connector {
  /** Its change log lives in memory: it starts anew at each open. */
  readonly changeLogInMemory = true
  private readonly files: FolderFiles
  private records: Records = { persons: new Map(), organizations: new Map() }
  private changes: LocalChange[] = []
  private seq = 0
  private watcher: FSWatcher | undefined
  private readonly listeners = new Set<() => void>()
  private logStartedOver = false
  /** A compare ran while not every record read: it is asked for again once they do. */
  private comparedPartly = false
  /** Entries whose key an earlier entry took (in file order). */
  private duplicates: BadRow[] = []
  /** The keys of the records being written (not logged as changes). */
  private readonly own = new Set<string>()
  /** One read or write of the folder at a time. */
  private work: Promise<unknown> = Promise.resolve()

  constructor(
    readonly path: string,
    private readonly format: FolderFormat = VCARD_FORMAT,
    /** How long a changed or vanished file is waited for (folder-files.ts; tests: 0). */
    settleMs?: number,
  ) {
    this.files = new FolderFiles(path, format, this.description, settleMs)
  }

  get description(): string {
    return `${this.format.name} folder ${this.path}`
  }

  async open(_entities: readonly EntityMapping[]): Promise<void> {
    if (!existsSync(this.path)) {
      throw new ObjectSyncError('LOCAL_SYSTEM_IO', `${this.description} does not exist`)
    }
    this.logStartedOver = false
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

  /**
   * Once after open: the log started over ('log'), so the caller's cursor starts over
   * too and every record is compared with what was last seen.
   */
  repairChangeCapture(): Promise<'intact' | 'triggers' | 'log'> {
    const first = !this.logStartedOver
    this.logStartedOver = true
    const whole = this.readsWhole()
    if (first) {
      this.comparedPartly = !whole
      return Promise.resolve('log')
    }
    // Whole again after a compare that could not take absent records for deletes.
    if (this.comparedPartly && whole) {
      this.comparedPartly = false
      return Promise.resolve('triggers')
    }
    return Promise.resolve('intact')
  }

  /** Whether every file reads whole and settled, and there are contact files at all. */
  readsWhole(): boolean {
    return (
      this.files.files.size > 0 &&
      ![...this.files.files.keys()].some((file) => this.files.unsure(file))
    )
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
    for (const held of [...this.records[table].values()]) {
      yield await Promise.resolve({ ...held.row })
    }
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
      let results: (ReadRecord | 'changed')[] = []
      await this.writing((dirty) => {
        results = writes.map((write): ReadRecord | 'changed' => {
          const held = this.records[table].get(write.key)
          const now = this.recordOf(held, entity)
          if (!write.unchanged(now)) return 'changed'
          this.apply(table, write.key, held, write, dirty)
          return now
        })
      })
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
      const file = held.file
      await this.writing((dirty) => {
        this.files.checkWritable(file, held.entry)
        const state = this.files.files.get(file)!
        dirty.add(file)
        this.own.add(key)
        state.entries = state.entries.filter((entry) => entry !== held.entry)
      })
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
      await this.writing((dirty) => {
        this.apply(table, key, held, { groups: [...groups].sort() }, dirty)
      })
    })
  }

  /** Files and entries that could not be read, as bad rows: the file and line, and why. */
  badRows(): BadRow[] {
    const problems = [...this.files.files.values()].flatMap((state) => state.problems)
    return [...problems, ...this.duplicates]
  }

  /** Reads what changed (folder-files.ts); with `logChanges`, logs the records that differ. */
  private async scan(logChanges: boolean): Promise<void> {
    if (await this.files.scan()) this.index(logChanges)
  }

  /** The records as the files hold them now; with `logChanges`, each that differs is logged. */
  private index(logChanges: boolean, own: ReadonlySet<string> = new Set()): void {
    const before = this.records
    const indexed = indexRecords(
      this.files.files,
      (file, line, problem) => this.files.problem(file, line, problem),
      before,
      (file) => this.files.unsure(file),
    )
    this.records = indexed.records
    this.duplicates = indexed.duplicates
    if (!logChanges) return
    for (const [table, key] of changedRecords(before, this.records)) {
      if (own.has(key)) continue
      this.changes.push({ seq: ++this.seq, table, key, at: Date.now() })
    }
  }

  /**
   * Applies a write to the record's entry (a new entry where the format puts new ones);
   * returns the files it changed. An organization renamed takes its persons' entries
   * with it (they name it).
   */
  private apply(
    table: FolderTable,
    key: string,
    held: Held | undefined,
    content: { row?: LocalRow; custom?: CustomValues | undefined; groups?: string[] },
    changed: Set<string>,
  ): void {
    const organizationId = content.row?.organization_id
    const organizationName =
      typeof organizationId === 'string'
        ? (this.records.organizations.get(organizationId)?.row.name as string | undefined)
        : undefined
    const entryContent: EntryContent = {
      table,
      row: content.row ?? {},
      custom: content.custom,
      groups: content.groups,
      organizationName,
    }
    this.own.add(key)
    if (held?.entry !== undefined && held.file !== undefined) {
      this.files.checkWritable(held.file, held.entry)
      changed.add(held.file)
      this.format.update(held.entry, entryContent, this.files.files.get(held.file)!.meta)
    } else {
      const groups = content.groups ?? held?.groups
      this.create(table, key, { ...entryContent, groups }, changed)
    }
    const renamed = content.row?.name
    if (
      table === 'organizations' &&
      held !== undefined &&
      typeof renamed === 'string' &&
      renamed !== held.row.name
    ) {
      for (const person of this.records.persons.values()) {
        if (person.row.organization_id !== key || person.entry === undefined) continue
        this.files.checkWritable(person.file!, person.entry)
        changed.add(person.file!)
        this.own.add(String(person.row.id))
        const row = { organization_id: key }
        this.format.update(
          person.entry,
          {
            table: 'persons',
            row,
            custom: undefined,
            groups: undefined,
            organizationName: renamed,
          },
          this.files.files.get(person.file!)!.meta,
        )
      }
    }
  }

  /** A new entry for the record, in the file the format puts it in; returns that file. */
  private create(
    table: FolderTable,
    key: string,
    content: EntryContent,
    changed: Set<string>,
  ): void {
    const sure = [...this.files.files.keys()].filter((file) => !this.files.unsure(file)).sort()
    const file = this.format.newFile(key, sure)
    this.files.checkWritable(file)
    const state = this.files.stateOf(file)
    changed.add(file)
    const handle = this.format.create(key, content, state.meta)
    const read = { row: {}, custom: {}, groups: [], organization: '' }
    state.entries.push({ handle, line: 0, table, key, ...read })
  }

  /**
   * Changes entries in memory (`change`, naming each file it touches), then writes those
   * files (folder-files.ts). Anything failing on the way — a file refused, a write failed
   * — takes every touched file back as it is on disk: nothing changed here stays to be
   * written later. Then the records are read from the files as they are: other programs'
   * edits found on the way are logged (the daemon's own read back as it wrote them).
   */
  private async writing(change: (dirty: Set<string>) => void): Promise<void> {
    const dirty = new Set<string>()
    this.own.clear()
    try {
      change(dirty)
      for (const file of dirty) await this.files.write(file)
    } catch (error) {
      // The files written before the failure stay as written (the records in them the
      // daemon's own: not logged); the others are taken back as they are on disk.
      for (const file of dirty) await this.files.reload(file)
      throw error
    } finally {
      this.index(true, this.own)
    }
  }

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
}
