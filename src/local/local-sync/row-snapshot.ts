// Comparing rows, without reading or writing anything: a row's snapshot (its mapped
// columns and custom fields as text) as the daemon last wrote or read it, against the
// row now. What differs is a local edit; a row that reads the same is the daemon's own
// write coming back, so nothing echoes. Also the two translations that comparison
// needs: the store patch that makes an object say what a row says, and the row an
// object makes.
import type { FieldValue } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import type { CustomValues, LocalRow, StoredCustomValues } from '../connector.ts'
import {
  contentHash,
  writeField,
  type EntityMapping,
  type LocalValue,
  type ReferenceResolver,
} from '../mapping/index.ts'

/** A row's mapped columns and custom fields as text (bytes by their sha256). */
export interface RowSnapshot {
  columns: Record<string, string | null>
  custom: CustomValues | undefined
}

/** A row as canonical values; `custom` only where the local system keeps custom fields. */
export interface ReadRow {
  fields: Record<string, FieldValue | null>
  custom: CustomValues | undefined
  /** Some reference named a record that has no object yet. */
  unresolved?: boolean
  /**
   * Custom fields removed locally since last seen; when set, `custom` holds only changed
   * ones (absent: `custom` is the whole set, and what is not in it is removed).
   */
  removedCustom?: string[]
}

/** A patch for `store.update`. */
export interface ObjectPatch {
  fields?: Record<string, FieldValue | null>
  custom?: Record<string, string | null>
}

export function sameLocal(a: LocalValue | undefined, b: LocalValue | undefined): boolean {
  return localText(a) === localText(b)
}

/** A local value as text to compare; bytes (a file's content) by their sha256. */
function localText(value: LocalValue | undefined): string | null {
  if (value === null || value === undefined) return null
  return value instanceof Uint8Array ? `sha256:${contentHash(value)}` : String(value)
}

function sorted(values: CustomValues): [string, string][] {
  return Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

export function snapshot(
  entity: EntityMapping,
  row: LocalRow,
  custom: StoredCustomValues | undefined,
): RowSnapshot {
  const columns: Record<string, string | null> = {}
  for (const mapped of entity.fields) {
    columns[mapped.column] = localText(row[mapped.column])
  }
  return { columns, custom: custom === undefined ? undefined : customText(custom) }
}

/** Custom fields as text, bytes (another program's, a bad row) by their sha256. */
function customText(custom: StoredCustomValues): CustomValues {
  return Object.fromEntries(
    Object.entries(custom).map(([name, value]) => [name, localText(value)!]),
  )
}

/**
 * Whether two snapshots hold the same columns and custom fields with the same texts (in
 * any order). Runs for every row read that the daemon has seen before: compared entry by
 * entry, not as JSON text.
 */
export function sameSnapshot(seen: RowSnapshot | undefined, now: RowSnapshot): boolean {
  if (seen === undefined) return false
  if (!sameRecord(seen.columns, now.columns)) return false
  if (seen.custom === undefined || now.custom === undefined) return seen.custom === now.custom
  return sameRecord(seen.custom, now.custom)
}

function sameRecord(
  a: Readonly<Record<string, string | null>>,
  b: Readonly<Record<string, string | null>>,
): boolean {
  let size = 0
  for (const key of Object.keys(a)) {
    if (!Object.hasOwn(b, key) || a[key] !== b[key]) return false
    size++
  }
  return size === Object.keys(b).length
}

/** The part of a read row whose columns (and custom fields) changed since `seen`. */
export function changedSince(
  entity: EntityMapping,
  read: ReadRow,
  row: LocalRow,
  custom: StoredCustomValues | undefined,
  seen: RowSnapshot | undefined,
): ReadRow {
  if (seen === undefined) return read
  const now = snapshot(entity, row, custom)
  const fields: Record<string, FieldValue | null> = {}
  for (const mapped of entity.fields) {
    if (now.columns[mapped.column] !== seen.columns[mapped.column] && mapped.field in read.fields) {
      fields[mapped.field] = read.fields[mapped.field]!
    }
  }
  let changedCustom: CustomValues | undefined
  if (read.custom !== undefined) {
    changedCustom = {}
    const before = seen.custom ?? {}
    for (const [name, value] of Object.entries(read.custom)) {
      if (before[name] !== value) changedCustom[name] = value
    }
  }
  return { fields, custom: changedCustom, removedCustom: customRemoved(read.custom, seen.custom) }
}

function customRemoved(now: CustomValues | undefined, before: CustomValues | undefined): string[] {
  if (now === undefined || before === undefined) return []
  return Object.keys(before).filter((name) => !(name in now))
}

export function withoutNulls<T>(record: Record<string, T | null>): Record<string, T> {
  const present: Record<string, T> = {}
  for (const key of Object.keys(record)) {
    const value = record[key]!
    if (value === null) continue
    // As an own field, never the prototype (Object.fromEntries did the same).
    if (key === '__proto__')
      Object.defineProperty(present, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      })
    else present[key] = value
  }
  return present
}

/**
 * What to change on the object so that it says what the row says; undefined: nothing.
 * `self` is this instance's id, its key in `externalIds`.
 */
export function diff(object: StoredObject, read: ReadRow, self: string): ObjectPatch | undefined {
  const fields: Record<string, FieldValue | null> = {}
  for (const [name, value] of Object.entries(read.fields)) {
    const current = object.fields[name]
    if (name === 'externalIds') {
      // The column holds this instance's id only: ids other instances keep stay, and an
      // emptied column takes this instance's out (the field goes when none is left).
      const others = Object.entries((current ?? {}) as Record<string, string>).filter(
        ([instance]) => instance !== self,
      )
      const merged =
        value === null
          ? Object.fromEntries(others)
          : { ...(current as Record<string, string> | undefined), ...(value as object) }
      const next = Object.keys(merged).length === 0 ? null : merged
      if (JSON.stringify(next) !== JSON.stringify(current ?? null)) fields[name] = next
      continue
    }
    if (
      value === null ? current !== undefined : JSON.stringify(value) !== JSON.stringify(current)
    ) {
      fields[name] = value
    }
  }
  const custom = customDiff(object, read)
  const patch = {
    ...(Object.keys(fields).length > 0 ? { fields } : {}),
    ...(Object.keys(custom).length > 0 ? { custom } : {}),
  }
  return Object.keys(patch).length > 0 ? patch : undefined
}

function customDiff(object: StoredObject, read: ReadRow): Record<string, string | null> {
  const custom: Record<string, string | null> = {}
  const localCustom = read.custom
  if (localCustom !== undefined) {
    for (const [name, value] of Object.entries(localCustom)) {
      // A field the object lacks is added, even one whose text is "undefined".
      const current = Object.hasOwn(object.custom, name) ? object.custom[name] : undefined
      if (current === undefined || String(current) !== value) custom[name] = value
    }
    if (read.removedCustom === undefined) {
      for (const name of Object.keys(object.custom)) if (!(name in localCustom)) custom[name] = null
    } else {
      for (const name of read.removedCustom) if (name in object.custom) custom[name] = null
    }
  }
  return custom
}

/**
 * The object as the record's columns and custom fields (file contents aside: the row
 * writer adds those), and whether the record says so already.
 */
export function localForm(
  entity: EntityMapping,
  object: StoredObject,
  before: { row: LocalRow | undefined; custom: StoredCustomValues | undefined },
  refs: ReferenceResolver,
): { row: LocalRow; custom: CustomValues | undefined; unchanged: boolean } {
  const row: LocalRow = {}
  for (const mapped of entity.fields) {
    if (mapped.type === 'content') continue
    const value = writeField(mapped, object.fields[mapped.field], refs)
    const local = before.row?.[mapped.column]
    // A reference the store can't express (to a record with no object yet) stays.
    if (
      mapped.type === 'reference' &&
      value === null &&
      local !== null &&
      local !== undefined &&
      refs.toObject(String(local)) === undefined
    ) {
      continue
    }
    row[mapped.column] = value
  }
  const custom = entity.customFieldsTable
    ? Object.fromEntries(
        Object.entries(object.custom).map(([name, value]) => [name, String(value)]),
      )
    : undefined
  const unchanged =
    before.row !== undefined &&
    Object.keys(row).every((column) => sameLocal(before.row![column], row[column])) &&
    (custom === undefined ||
      JSON.stringify(sorted(customText(before.custom ?? {}))) === JSON.stringify(sorted(custom)))
  return { row, custom, unchanged }
}
