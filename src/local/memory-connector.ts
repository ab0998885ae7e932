// A local system in memory, for fast unit tests. It passes the same conformance suite
// as the SQLite connector; `edit` plays "another program writing to the tables".
import {
  GROUP_MEMBERS,
  type Connector,
  type CustomValues,
  type LocalChange,
  type LocalRow,
  type ReadRecord,
  type RowWrite,
} from './connector.ts'
import type { EntityMapping } from './mapping/index.ts'
import { isObjectId } from '../model/index.ts'
import { rowMatches, whereColumns } from './row-filter.ts'

export class MemoryConnector implements Connector {
  readonly description = 'memory local system'
  private readonly tables = new Map<string, Map<string, LocalRow>>()
  private readonly custom = new Map<string, CustomValues>()
  private readonly groups = new Map<string, Set<string>>()
  private changes: LocalChange[] = []
  private seq = 0
  /** Tables whose keys this local system gives: object id → key of the row inserted for it. */
  private readonly given = new Map<string, Map<string, string>>()
  private lastGivenKey = 0

  /** Plays a table whose keys the local system gives (an integer key column). */
  givesKeys(table: string): void {
    this.given.set(table, new Map())
  }

  open(entities: readonly EntityMapping[]): Promise<void> {
    for (const entity of entities) {
      if (!this.tables.has(entity.table)) this.tables.set(entity.table, new Map())
    }
    return Promise.resolve()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }

  /** A write by someone else: the row is replaced (or removed with `undefined`). */
  edit(table: string, key: string, row: LocalRow | undefined, custom?: CustomValues): void {
    const rows = this.table(table)
    if (row === undefined) {
      rows.delete(key)
      this.custom.delete(key)
      this.forget(table, key)
    } else {
      rows.set(key, { ...row })
      if (custom !== undefined) this.custom.set(key, { ...custom })
    }
    this.record(table, key)
  }

  changesSince(cursor: number, limit = 1000): Promise<LocalChange[]> {
    return Promise.resolve(this.changes.filter((change) => change.seq > cursor).slice(0, limit))
  }

  acknowledge(cursor: number): Promise<void> {
    this.changes = this.changes.filter((change) => change.seq > cursor)
    return Promise.resolve()
  }

  read(entity: EntityMapping, key: string): Promise<LocalRow | undefined> {
    const row = this.row(entity, key)
    return Promise.resolve(row === undefined ? undefined : { ...row })
  }

  async *readAll(entity: EntityMapping): AsyncIterable<LocalRow> {
    for (const row of [...this.table(entity.table).values()]) {
      if (rowMatches(entity, row)) yield await Promise.resolve({ ...row })
    }
  }

  readCustom(key: string): Promise<CustomValues> {
    return Promise.resolve({ ...this.custom.get(key) })
  }

  write(entity: EntityMapping, key: string, row: LocalRow, custom?: CustomValues): Promise<void> {
    const rows = this.table(entity.table)
    let own = this.ownKey(entity, key)
    if (own === undefined) {
      // As a sequence: past every key the table holds.
      for (const held of rows.keys())
        this.lastGivenKey = Math.max(this.lastGivenKey, Number(held) || 0)
      own = String(++this.lastGivenKey)
      this.given.get(entity.table)!.set(key, own)
    }
    if (rows.has(own) && this.row(entity, own) === undefined) {
      // As a primary key: another entity's row (a row filter) is not written over.
      throw new Error(`${entity.table}: the key ${own} is taken by a row of another entity`)
    }
    const here = this.row(entity, own) ?? whereColumns(entity)
    rows.set(own, { ...here, ...row, [entity.key]: own })
    if (custom !== undefined && entity.customFieldsTable) this.custom.set(own, { ...custom })
    this.record(entity.table, own)
    return Promise.resolve()
  }

  objectsOfKeys(entity: EntityMapping, keys: readonly string[]): Promise<Map<string, string>> {
    const wanted = new Set(keys)
    const found = new Map<string, string>()
    for (const [object, key] of this.given.get(entity.table) ?? []) {
      if (wanted.has(key)) found.set(key, object)
    }
    return Promise.resolve(found)
  }

  writeMany(
    entity: EntityMapping,
    writes: readonly RowWrite[],
  ): Promise<(ReadRecord | 'changed')[]> {
    // All at once, with nothing in between: as one transaction.
    const record = (key: string): ReadRecord => {
      const row = this.row(entity, key)
      return {
        row: row === undefined ? undefined : { ...row },
        custom: entity.customFieldsTable ? { ...this.custom.get(key) } : undefined,
      }
    }
    return Promise.resolve(
      writes.map((write) => {
        if (!write.unchanged(record(write.key))) return 'changed'
        void this.write(entity, write.key, write.row, write.custom)
        return record(write.key)
      }),
    )
  }

  remove(entity: EntityMapping, key: string): Promise<void> {
    const own = this.ownKey(entity, key)
    if (own === undefined || this.row(entity, own) === undefined) return Promise.resolve()
    this.table(entity.table).delete(own)
    this.custom.delete(own)
    this.forget(entity.table, own)
    this.record(entity.table, own)
    return Promise.resolve()
  }

  async *groupMembers(): AsyncIterable<{ group: string; key: string }> {
    for (const [key, groups] of [...this.groups]) {
      for (const group of [...groups]) yield await Promise.resolve({ group, key })
    }
  }

  groupsOf(key: string): Promise<string[]> {
    return Promise.resolve([...(this.groups.get(key) ?? [])].sort())
  }

  changeGroups(
    key: string,
    change: { join?: readonly string[]; leave?: readonly string[] },
  ): Promise<void> {
    const groups = this.groups.get(key) ?? new Set<string>()
    for (const group of change.join ?? []) groups.add(group)
    for (const group of change.leave ?? []) groups.delete(group)
    if (groups.size === 0) this.groups.delete(key)
    else this.groups.set(key, groups)
    this.record(GROUP_MEMBERS, key)
    return Promise.resolve()
  }

  /** A row gone: no object is remembered for its key. */
  private forget(table: string, key: string): void {
    const given = this.given.get(table)
    for (const [object, rowKey] of given ?? []) if (rowKey === key) given!.delete(object)
  }

  /**
   * The key of the row asked for by `key`: `key`, or in a table whose keys this gives, for
   * an object's id, the key of the row inserted for it (undefined: none yet).
   */
  private ownKey(entity: EntityMapping, key: string): string | undefined {
    const given = this.given.get(entity.table)
    return given === undefined || !isObjectId(key) ? key : given.get(key)
  }

  /** The entity's row asked for by `key` (one of another entity in the table is not). */
  private row(entity: EntityMapping, key: string): LocalRow | undefined {
    const own = this.ownKey(entity, key)
    if (own === undefined) return undefined
    const row = this.table(entity.table).get(own)
    return row !== undefined && rowMatches(entity, row) ? row : undefined
  }

  private table(name: string): Map<string, LocalRow> {
    let rows = this.tables.get(name)
    if (rows === undefined) {
      rows = new Map()
      this.tables.set(name, rows)
    }
    return rows
  }

  private record(table: string, key: string): void {
    this.changes.push({ seq: ++this.seq, table, key })
  }
}
