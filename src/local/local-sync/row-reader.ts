// Reading a local row as canonical values through the mapping, and keeping the rows the
// mapping could not read (table, key, column, problem) until they read again.
import type { FieldValue } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import {
  BYTES_NAME,
  type Connector,
  type CustomValues,
  type LocalRow,
  type ReadRecord,
  type StoredCustomValues,
} from '../connector.ts'
import { RowProblem, readField, type EntityMapping } from '../mapping/index.ts'
import { recordId, type BadRow, type LocalSyncCore } from './core.ts'
import { diff, sameSnapshot, snapshot, type ReadRow, type RowSnapshot } from './row-snapshot.ts'

/** The record's custom fields, for an entity that keeps them; undefined otherwise. */
export async function readCustomOf(
  connector: Connector,
  entity: EntityMapping,
  key: string,
): Promise<StoredCustomValues | undefined> {
  return entity.customFieldsTable ? connector.readCustom(key) : undefined
}

/**
 * The records as they read now, where the local system reads many at once (readMany): by
 * recordId, only those it found (a row not found is read again on its own: a key can
 * print differently in the change log than the table gives it back, and a row taken for
 * gone is a delete). Undefined where it reads one at a time, or the read failed (each is
 * then read on its own, and one bad row stays that row's problem).
 */
export async function readAhead(
  connector: Connector,
  records: readonly [EntityMapping, string][],
): Promise<Map<string, ReadRecord> | undefined> {
  if (connector.readMany === undefined) return undefined
  const byEntity = new Map<EntityMapping, string[]>()
  for (const [entity, key] of records) {
    byEntity.set(entity, [...(byEntity.get(entity) ?? []), key])
  }
  const read = new Map<string, ReadRecord>()
  try {
    for (const [entity, keys] of byEntity) {
      for (const [key, record] of await connector.readMany(entity, keys)) {
        if (record.row !== undefined) read.set(recordId(entity, key), record)
      }
    }
  } catch {
    return undefined
  }
  return read
}

/**
 * Custom fields as text. Bytes in one are the row's problem, as in a text column; so is a
 * field named __proto__, which no object can hold (assigned, it would be dropped unseen).
 */
function customText(stored: StoredCustomValues): CustomValues {
  const entries = Object.entries(stored)
  for (const [name, value] of entries) {
    if (value instanceof Uint8Array) {
      throw new RowProblem(
        'custom_fields.value',
        `${JSON.stringify(name)}: expected text, got bytes`,
      )
    }
    if (name.startsWith(BYTES_NAME)) {
      throw new RowProblem(
        'custom_fields.name',
        `${name.slice(BYTES_NAME.length)}: expected text, got bytes`,
      )
    }
    if (name === '__proto__') {
      throw new RowProblem('custom_fields.name', 'expected a name other than __proto__')
    }
  }
  return Object.fromEntries(entries) as CustomValues
}

/**
 * The column of the field an INVALID_OBJECT path names, `person.fields.birthday`, or one
 * deeper into a list or map, `person.fields.roles[1]`; undefined for a custom field.
 */
export function columnOfPath(entity: EntityMapping, path: string): string | undefined {
  const field = /^\w+\.fields\.(\w+)/.exec(path)?.[1]
  return entity.fields.find((mapped) => mapped.field === field)?.column
}

export class RowReader {
  private readonly problems = new Map<string, BadRow>()

  constructor(private readonly core: Pick<LocalSyncCore, 'links' | 'log'>) {}

  /** The row as canonical fields; throws RowProblem when the mapping can't read it. */
  read(entity: EntityMapping, row: LocalRow, stored: StoredCustomValues | undefined): ReadRow {
    const custom = stored === undefined ? undefined : customText(stored)
    const fields: Record<string, FieldValue | null> = {}
    const refs = this.core.links.resolver()
    let unresolved = false
    for (const mapped of entity.fields) {
      const raw = row[mapped.column]
      const value = readField(mapped, raw, refs)
      // A reference to a record not linked yet is left as it is, not cleared; an empty one
      // (NULL or '') clears it.
      const empty = raw === null || raw === undefined || raw === ''
      if (value === undefined && mapped.type === 'reference' && !empty) {
        unresolved = true
        continue
      }
      fields[mapped.field] = value ?? null
    }
    return { fields, custom, unresolved }
  }

  /** The row as canonical fields; a row the mapping can't read is reported (undefined). */
  readOrReport(
    entity: EntityMapping,
    key: string,
    row: LocalRow,
    custom: StoredCustomValues | undefined,
  ): ReadRow | undefined {
    try {
      return this.read(entity, row, custom)
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error
      this.report(entity, key, error.column, error.message)
      return undefined
    }
  }

  report(entity: EntityMapping, key: string, column: string | undefined, problem: string): void {
    const bad = { table: entity.table, key, column, problem }
    this.problems.set(recordId(entity, key), bad)
    this.core.log.warn(
      bad,
      'row skipped: the mapping could not read it; it is read again when it changes',
    )
  }

  /** The row reads (or is gone): it is no longer a bad row. */
  clear(entity: EntityMapping, key: string): void {
    this.problems.delete(recordId(entity, key))
  }

  /** Rows the mapping could not read, as last seen; each leaves when its row reads again. */
  badRows(): BadRow[] {
    return [...this.problems.values()]
  }
}

/**
 * Whether the row, read through the mapping, says something other than the object (`self`:
 * this instance's id). One that reads as the object in other words ('FALSE' for 0,
 * '1990-1-5') does not; nor does one that can't be read: a bad row waits for a person to
 * fix it, and writing over it would lose their edit.
 */
export function saysOtherwise(
  rows: RowReader,
  record: {
    entity: EntityMapping
    object: StoredObject
    row: LocalRow
    custom: StoredCustomValues | undefined
    /** The row as the daemon last wrote or read it. */
    seen?: RowSnapshot | undefined
  },
  self: string,
): boolean {
  try {
    const read = rows.read(record.entity, record.row, record.custom)
    return diff(record.object, read, self) !== undefined
  } catch (error) {
    // A bad row someone made waits for them; one exactly as the daemon last wrote it (a
    // mapping changed since) is no one's edit, and is written again.
    if (error instanceof RowProblem) {
      const { seen, entity, row, custom } = record
      return seen !== undefined && sameSnapshot(seen, snapshot(entity, row, custom))
    }
    throw error
  }
}
