// The rows fuzzer's two halves (test/local/rows-fuzz.test.ts): random values for every
// column of the default SQLite schema — good ones, odd but good ones, and wrong ones (bytes
// in a text column, text in a flag, impossible dates, malformed amounts and emails, huge
// texts, control characters) — and the oracle: what the daemon must make of a row as
// SQLite stores it (the canonical fields, or which columns make it a bad row). The oracle
// is written from the contract (INTERFACE.md, docs/local-systems.md, the model's field
// kinds), not from the mapping code it checks.
import { createHash } from 'node:crypto'
import type { FieldValue, ObjectType } from '../../src/model/index.ts'
import {
  AWKWARD_PIECES,
  awkwardText,
  longText,
  plainText,
  randomBytesOf,
  type Random,
} from './fuzz-values.ts'

export type ColumnKind =
  | 'text'
  | 'email'
  | 'date'
  | 'decimal'
  | 'boolean'
  | 'list'
  | 'reference'
  | 'external-id'
  | 'content'

export interface ColumnSpec {
  column: string
  field: string
  kind: ColumnKind
  /** The field must have a value (the model's required fields). */
  required?: boolean
  /** The column is NOT NULL in the default schema: another program can't write NULL. */
  notNull?: boolean
  /** The type a reference names. */
  refers?: ObjectType
}

/** The default schema (INTERFACE.md), column by column, with each column's field. */
export const TABLES: Record<ObjectType, { table: string; columns: ColumnSpec[] }> = {
  organization: {
    table: 'organizations',
    columns: [
      { column: 'name', field: 'name', kind: 'text', required: true, notNull: true },
      { column: 'org_number', field: 'orgNumber', kind: 'text' },
      { column: 'email', field: 'email', kind: 'email' },
      { column: 'phone', field: 'phone', kind: 'text' },
      { column: 'website', field: 'website', kind: 'text' },
      { column: 'address', field: 'address', kind: 'text' },
      { column: 'category', field: 'categories', kind: 'list' },
      { column: 'favourite', field: 'favourite', kind: 'boolean', notNull: true },
      { column: 'archived', field: 'archived', kind: 'boolean', notNull: true },
    ],
  },
  person: {
    table: 'persons',
    columns: [
      { column: 'first_name', field: 'firstName', kind: 'text', required: true, notNull: true },
      { column: 'last_name', field: 'lastName', kind: 'text', required: true, notNull: true },
      { column: 'email', field: 'email', kind: 'email' },
      { column: 'phone', field: 'phone', kind: 'text' },
      { column: 'birthday', field: 'birthday', kind: 'date' },
      { column: 'title', field: 'title', kind: 'text' },
      {
        column: 'organization_id',
        field: 'organizationId',
        kind: 'reference',
        refers: 'organization',
      },
      { column: 'role', field: 'roles', kind: 'list' },
      { column: 'favourite', field: 'favourite', kind: 'boolean', notNull: true },
      { column: 'archived', field: 'archived', kind: 'boolean', notNull: true },
    ],
  },
  transaction: {
    table: 'transactions',
    columns: [
      { column: 'type', field: 'type', kind: 'text', required: true, notNull: true },
      { column: 'person_id', field: 'personId', kind: 'reference', refers: 'person' },
      {
        column: 'organization_id',
        field: 'organizationId',
        kind: 'reference',
        refers: 'organization',
      },
      { column: 'date', field: 'date', kind: 'date', required: true, notNull: true },
      { column: 'amount', field: 'amount', kind: 'decimal' },
      { column: 'currency', field: 'currency', kind: 'text' },
      { column: 'description', field: 'description', kind: 'text' },
      { column: 'donor_id', field: 'externalIds', kind: 'external-id' },
    ],
  },
  file: {
    table: 'files',
    columns: [
      { column: 'person_id', field: 'ownerId', kind: 'reference', refers: 'person' },
      { column: 'kind', field: 'kind', kind: 'text' },
      { column: 'name', field: 'name', kind: 'text', required: true, notNull: true },
      { column: 'media_type', field: 'mediaType', kind: 'text' },
      { column: 'content', field: 'sha256', kind: 'content' },
    ],
  },
}

/** A value as better-sqlite3 binds it. */
export type SqlValue = string | number | bigint | Buffer | null

/** Values wrong for most columns: bytes, numbers at the edges, NaN-ish text, huge text. */
function garbage(random: Random): SqlValue {
  switch (random.int(12)) {
    case 0:
      return randomBytesOf(random, random.int(24))
    case 1:
      return random.between(-1_000_000, 1_000_000)
    case 2:
      return random.pick([2n ** 62n, -(2n ** 63n), 2 ** 53 + 1])
    case 3:
      return random.pick([1.5, -0.25, NaN, Infinity, -Infinity, 1e300, -0])
    case 4:
      return random.pick(['NaN', 'null', 'undefined', 'Infinity', '-', '0x1F', 'true', '[]'])
    case 5:
      // Huge texts now and then (each one is stored twice: in SQLite and in the store).
      return random.chance(0.25)
        ? longText(random, random.pick([65_537, 100_000]))
        : '0'.repeat(300)
    case 6:
      return random.pick(['\u0000', '\u0007\u0008', '\u202e\u200b', '\ufeff', '\ud800', ' '])
    default:
      return awkwardText(random, 5)
  }
}

function calendarDate(random: Random): [number, number, number] {
  // Mostly real dates; any year, month 0–13 and day 0–32 now and then.
  if (random.chance(0.8)) {
    return [random.between(1900, 2100), random.between(1, 12), random.between(1, 28)]
  }
  return [random.int(10_000), random.int(14), random.int(33)]
}

function dateValue(random: Random): SqlValue {
  const [year, month, day] = calendarDate(random)
  const pad = (n: number, width: number) => String(n).padStart(width, '0')
  const iso = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`
  switch (random.int(10)) {
    case 0:
      return `${year}-${month}-${day}` // unpadded month and day
    case 1:
      return ` ${iso}\t` // surrounding space
    case 2:
      return `${pad(day, 2)}.${pad(month, 2)}.${year}` // another format
    case 3:
      return `${iso}T00:00:00Z`
    case 4:
      return random.pick(['2023-02-29', '2024-02-30', '0000-00-00', '２０２４-０１-０１', 'soon'])
    default:
      return iso
  }
}

function decimalValue(random: Random): SqlValue {
  const digits = (n: number) => Array.from({ length: n }, () => random.int(10)).join('')
  switch (random.int(8)) {
    case 0:
      return random.pick([12, -3, 0, 125.5, 0.1 + 0.2, 1e21, -0.001])
    case 1:
      return random.pick(['1e5', '12,50', '+5', '.5', '5.', '--1', '1 000', '٣'])
    case 2:
      return `${random.chance(0.5) ? '-' : ''}${digits(random.between(29, 32))}`
    case 3:
      return `${digits(2)}.${digits(random.between(17, 20))}`
    case 4:
      return ` ${digits(3)}.${digits(2)} `
    default:
      return `${random.chance(0.3) ? '-' : ''}${digits(random.between(1, 8))}${random.chance(0.5) ? `.${digits(2)}` : ''}`
  }
}

function emailValue(random: Random): SqlValue {
  if (random.chance(0.8)) {
    const local = random.chance(0.8) ? plainText(random) : awkwardText(random, 2) || 'x'
    return `${local}@${random.pick(['example.org', 'bücher.de', '例え.jp', plainText(random)])}`
  }
  return random.pick(['no-at-sign', 'a@', '@b', 'a@b@c', 'a b@c', 'a@b c', ' a@b', 'a@\tb'])
}

function listValue(random: Random): SqlValue {
  switch (random.int(8)) {
    case 0:
      return random.pick([',', ', ,', ',,a,,', ' a , b ', 'a,A,a'])
    case 1:
      return Array.from({ length: random.pick([1000, 1001]) }, (_, i) => `r${i}`).join(',')
    case 2:
      return random.chance(0.2) ? `a,${longText(random, random.pick([65_536, 65_537]))}` : 'a,b'
    default:
      return Array.from({ length: random.between(1, 4) }, () => awkwardText(random, 2)).join(',')
  }
}

function booleanValue(random: Random): SqlValue {
  return random.pick([0, 1, 0, 1, '1', '0', 'true', 'FALSE', 'Yes', 'no', '', 2, -1, 'y', 0.5, 1.0])
}

function textValue(random: Random): SqlValue {
  switch (random.int(10)) {
    case 0:
      return random.chance(0.1)
        ? longText(random, random.pick([65_535, 65_536, 65_537]))
        : longText(random, random.between(100, 3000))
    case 1:
      return random.pick(AWKWARD_PIECES)
    case 2:
      return random.pick([42, -7, 3.25])
    default:
      return random.chance(0.5) ? plainText(random, 16) : awkwardText(random, 6) || 'x'
  }
}

export interface ValueSources {
  /** Keys of records of a type already taken in, to refer to. */
  linkedKeys: (type: ObjectType) => string[]
  maxBlobBytes: number
}

/** A random value for a column: mostly of its kind (odd ones included), else garbage. */
export function columnValue(
  random: Random,
  spec: ColumnSpec,
  sources: ValueSources,
  dirty: boolean,
): SqlValue {
  if (!spec.notNull && random.chance(0.15)) return null
  if (dirty) {
    const value = garbage(random)
    // SQLite stores NaN as NULL, which a NOT NULL column refuses.
    return spec.notNull && typeof value === 'number' && Number.isNaN(value) ? 'NaN' : value
  }
  switch (spec.kind) {
    case 'email':
      return emailValue(random)
    case 'date':
      return dateValue(random)
    case 'decimal':
      return decimalValue(random)
    case 'boolean':
      return booleanValue(random)
    case 'list':
      return listValue(random)
    case 'reference': {
      const linked = sources.linkedKeys(spec.refers!)
      return linked.length > 0 && random.chance(0.7)
        ? random.pick(linked)
        : `nowhere-${plainText(random)}`
    }
    case 'content':
      return random.chance(0.9)
        ? randomBytesOf(random, random.int(sources.maxBlobBytes + 200))
        : random.pick(['text, not bytes', 42])
    default:
      return textValue(random)
  }
}

/** Custom fields for a record: mostly fine, some with names or values the model refuses. */
export function customValues(random: Random): [string, SqlValue][] {
  return Array.from({ length: random.between(1, 3) }, (_, i) => [
    random.chance(0.9)
      ? `${plainText(random, 8)}${i}`
      : random.pick(['', '__proto__', longText(random, 129), `名前${i}`, `\u0000${i}`]),
    random.chance(0.85)
      ? random.pick([plainText(random), '', awkwardText(random, 3), 42])
      : random.pick([longText(random, 65_537), randomBytesOf(random, 8), '\ud800', 'x', 1.5]),
  ])
}

/** A value as SQLite gave it back. */
export type StoredValue = string | number | Buffer | null

/** What the daemon must make of a record: its object's content, or why it is a bad row. */
export type Expectation =
  | {
      good: true
      fields: Record<string, FieldValue>
      custom: Record<string, string>
      /** Reference fields naming no record taken in: left as the object had them. */
      unresolved: string[]
    }
  | { good: false; columns: (string | undefined)[] }

const MAX_TEXT = 65_536
const MAX_LIST_ITEMS = 1000
const MAX_CUSTOM_NAME = 128
const EMAIL = /^[^\s@]+@[^\s@]+$/
const DECIMAL = /^-?\d{1,30}(\.\d{1,18})?$/
const LONE_SURROGATE = /\p{Cs}/u

/** Whether `text` is at most `max` long as the model counts: in code points. */
function within(text: string, max: number): boolean {
  if (text.length <= max) return true // never fewer units than code points
  let count = 0
  for (let i = 0; i < text.length; i++) {
    // A high surrogate followed by a low one is one code point.
    const code = text.charCodeAt(i)
    if (code >= 0xd800 && code < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++
    if (++count > max) return false
  }
  return true
}

function isCalendarDate(year: number, month: number, day: number): boolean {
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  return (
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  )
}

const NOT_READ = Symbol('the column can not be read')
type Read = FieldValue | undefined | typeof NOT_READ | { unresolved: true }

/** One column's value as its field (undefined: unset), or NOT_READ. */
function readColumn(
  spec: ColumnSpec,
  value: StoredValue,
  context: { resolve: (type: ObjectType, key: string) => string | undefined; self: string },
): Read {
  if (value === null || value === '') return spec.required === true ? NOT_READ : undefined
  if (spec.kind === 'content') {
    return value instanceof Buffer ? createHash('sha256').update(value).digest('hex') : NOT_READ
  }
  if (value instanceof Buffer) return NOT_READ
  const text = String(value)
  const fits = (each: string) => within(each, MAX_TEXT) && !LONE_SURROGATE.test(each)
  switch (spec.kind) {
    case 'email':
      return fits(text) && EMAIL.test(text) ? text : NOT_READ
    case 'date': {
      const match = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text.trim())
      if (match === null) return NOT_READ
      const [year, month, day] = match.slice(1).map(Number) as [number, number, number]
      if (!isCalendarDate(year, month, day)) return NOT_READ
      return `${match[1]}-${match[2]!.padStart(2, '0')}-${match[3]!.padStart(2, '0')}`
    }
    case 'decimal':
      return DECIMAL.test(text.trim()) ? text.trim() : NOT_READ
    case 'boolean': {
      const lower = text.toLowerCase()
      if (['1', 'true', 'yes'].includes(lower)) return true
      if (['0', 'false', 'no'].includes(lower)) return false
      return NOT_READ
    }
    case 'list': {
      const items = text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
      return items.length <= MAX_LIST_ITEMS && items.every(fits) ? items : NOT_READ
    }
    case 'reference':
      return context.resolve(spec.refers!, text) ?? { unresolved: true }
    case 'external-id':
      return fits(text) ? { [context.self]: text } : NOT_READ
    default:
      return fits(text) ? text : NOT_READ
  }
}

/** What the daemon must make of a record as SQLite stores it (`custom`: its custom_fields). */
export function expectRecord(
  type: ObjectType,
  row: Record<string, StoredValue>,
  custom: [StoredValue, StoredValue][],
  context: {
    resolve: (type: ObjectType, key: string) => string | undefined
    self: string
    maxBlobBytes: number
  },
): Expectation {
  const fields: Record<string, FieldValue> = {}
  const unresolved: string[] = []
  const columns: (string | undefined)[] = []
  for (const spec of TABLES[type].columns) {
    const value = row[spec.column] ?? null
    if (spec.kind === 'content' && value instanceof Buffer && value.length > context.maxBlobBytes) {
      columns.push(spec.column) // over files.maxBytes: BLOB_TOO_LARGE, a bad row
      continue
    }
    const read = readColumn(spec, value, context)
    if (read === NOT_READ) columns.push(spec.column)
    else if (typeof read === 'object' && read !== null && 'unresolved' in read) {
      unresolved.push(spec.field)
    } else if (read !== undefined) fields[spec.field] = read
    // A file's size is its content's (the model's `size` field).
    if (spec.kind === 'content' && value instanceof Buffer) fields.size = value.length
  }
  const values: Record<string, string> = {}
  let customBad = false
  for (const [name, value] of custom) {
    if (value === null) continue
    const text = String(name)
    const valid =
      text !== '' &&
      text !== '__proto__' &&
      within(text, MAX_CUSTOM_NAME) &&
      !LONE_SURROGATE.test(text) &&
      !(value instanceof Buffer) &&
      within(String(value), MAX_TEXT)
    if (valid) values[text] = String(value)
    else customBad = true
  }
  // A bad custom field is the record's problem: blamed on a column of custom_fields, or on
  // no column.
  if (customBad) columns.push(undefined, 'custom_fields.name', 'custom_fields.value')
  if (columns.length > 0) return { good: false, columns }
  return { good: true, fields, custom: values, unresolved }
}

/**
 * `value` with long texts and bytes replaced by their digest and length: what the fuzzer
 * keeps of each row and object, so that 100,000 records fit in memory.
 */
export function compact(value: unknown): unknown {
  const digest = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex')
  if (value instanceof Uint8Array) {
    return `<bytes ${digest(Buffer.from(value))} ${value.length}>`
  }
  if (typeof value === 'string') {
    return value.length > 200 ? `<text ${digest(value)} ${value.length}>` : value
  }
  if (Array.isArray(value)) return value.map(compact)
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([name, each]) => [name, compact(each)]))
  }
  return value
}
