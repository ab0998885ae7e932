// What the daemon needs of a local system: which rows changed since a cursor (made by
// anyone, including while the daemon was stopped), rows read one by one or all, and
// idempotent writes of merged objects. Every connector passes one conformance suite.
import type { EntityMapping, LocalValue } from './mapping/index.ts'

export type LocalRow = Record<string, LocalValue>

export interface LocalChange {
  /** Increasing; pass the last one seen as the next cursor. */
  seq: number
  table: string
  key: string
  /** When the row changed (ms since the epoch), where the local system records it. */
  at?: number
}

/** The default schema's custom fields: name → text value, per record key. */
export type CustomValues = Record<string, string>

/**
 * Custom fields as a local system holds them: text, or bytes where another program wrote
 * bytes into the text column (the record is then a bad row, as with bytes in any text
 * column).
 */
export type StoredCustomValues = Record<string, string | Uint8Array>

/**
 * What starts a custom field name a local system stored as bytes, then `x'<hex>'`: the
 * connector doesn't read it as text; the row is a bad row.
 */
export const BYTES_NAME = '\u0000bytes:'

/** A record as it reads: its row (undefined: no such row) and, where kept, custom fields. */
export interface ReadRecord {
  row: LocalRow | undefined
  custom: StoredCustomValues | undefined
}

/** A row (or a part of a file) the local system holds that can't be read as a record. */
export interface BadRow {
  table: string
  key: string
  /** The column that could not be read, when one is to blame. */
  column: string | undefined
  problem: string
}

/** One write of `writeMany`. */
export interface RowWrite {
  key: string
  row: LocalRow
  custom?: CustomValues | undefined
  /**
   * Whether the record as it reads now (inside the write's transaction) is still what the
   * caller decided on; when not (someone changed it meanwhile), nothing is written.
   */
  unchanged: (now: ReadRecord) => boolean
}

export interface Connector {
  readonly description: string
  /** Opens the local system and makes sure every mapped table reports its changes. */
  open(entities: readonly EntityMapping[]): Promise<void>
  close(): Promise<void>
  /**
   * Makes the change capture again where something removed it (a table restored from a
   * dump): 'triggers' or 'log' (the change log itself, whose sequence starts over) when it
   * did (or the log's sequence is behind `cursor`, the last change taken in: the log was
   * made anew or restored), so the caller compares every table with what it last saw.
   * Optional: a local
   * system whose changes can't be lost this way has none.
   */
  repairChangeCapture?(cursor: number): Promise<'intact' | 'triggers' | 'log'>
  /**
   * Whether its change log lives in memory (a folder's): it starts over at each open,
   * which the first repairChangeCapture says ('log') — not a loss worth a warning.
   */
  readonly changeLogInMemory?: boolean
  /**
   * Whether every record reads now. A folder with a file half written, a card that
   * doesn't read, or no contact files at all (unmounted?) does not: records absent then
   * are not taken for deletes. Optional: a database reads whole.
   */
  readsWhole?(): boolean
  /**
   * Calls `listener` when another program has committed a change, so the caller reads
   * the log at once rather than at its next poll; returns the way to stop. Optional: a
   * local system without such a signal is polled only.
   */
  onChanges?(listener: () => void): () => void
  /** Rows changed after `cursor` (inserted, updated or deleted), oldest first. */
  changesSince(cursor: number, limit?: number): Promise<LocalChange[]>
  /** Drops the record of changes up to `cursor`: they have been taken in. */
  acknowledge(cursor: number): Promise<void>
  read(entity: EntityMapping, key: string): Promise<LocalRow | undefined>
  /**
   * Many records at once, as `read` and `readCustom` read them (an absent row: `row`
   * undefined). Optional: for a local system where a read is a round trip (a server),
   * the change log's records are read this way, a batch at a time.
   */
  readMany?(entity: EntityMapping, keys: readonly string[]): Promise<Map<string, ReadRecord>>
  readAll(entity: EntityMapping): AsyncIterable<LocalRow>
  /**
   * For rows the daemon inserted where the local system gave the row its key
   * (assigned-keys.ts), the object each was inserted for, by key; other rows are not in
   * the map. Optional: a local system that takes every object's id as a key has none.
   */
  objectsOfKeys?(entity: EntityMapping, keys: readonly string[]): Promise<Map<string, string>>
  /** Custom field values of a record (default schema only; empty elsewhere). */
  readCustom(key: string): Promise<StoredCustomValues>
  /**
   * Inserts or replaces the row with this key, and its custom fields when given. Keys, here
   * and in every read and write: a row's own, or for a table whose keys the local system
   * gives (an integer key column), the id of the object the daemon inserted the row for;
   * such a row is inserted with the key the local system gives it, which its row read
   * back holds.
   */
  write(entity: EntityMapping, key: string, row: LocalRow, custom?: CustomValues): Promise<void>
  remove(entity: EntityMapping, key: string): Promise<void>
  /**
   * Many writes of one table at once, each as `write` does, in one transaction where the
   * local system has them: returns each record as it reads back, or 'changed' where
   * `unchanged` said no and nothing was written. A local system that logs its changes
   * leaves these out of the log: they are the daemon's own, read back here.
   */
  writeMany(entity: EntityMapping, writes: readonly RowWrite[]): Promise<(ReadRecord | 'changed')[]>
  /**
   * The local system's static selections (the default schema's `group_members`), read
   * by scope rules: every membership, or one record's groups. A local system without
   * groups has none. Membership changes are reported by `changesSince` under the table
   * `GROUP_MEMBERS`, keyed by the record's key.
   */
  groupMembers(): AsyncIterable<{ group: string; key: string }>
  /**
   * What the local system itself can't read (a file that does not parse), as bad rows,
   * beside the rows the mapping can't read. Optional: a database reads every row.
   */
  badRows?(): BadRow[]
  groupsOf(key: string): Promise<string[]>
  /** Puts the record in (`join`) and takes it out of (`leave`) the named groups. */
  changeGroups(
    key: string,
    change: { join?: readonly string[]; leave?: readonly string[] },
  ): Promise<void>
}

/** The table name under which group membership changes are reported. */
export const GROUP_MEMBERS = 'group_members'
