// Converting values between a local column and a canonical field, both ways: text,
// numbers, decimals, booleans, dates in a format, comma lists, value maps, defaults,
// references through the links, this instance's external id, and file content by hash.
// A local value that can't be read throws RowProblem naming the column.
import { createHash } from 'node:crypto'
import type { FieldValue } from '../../model/index.ts'
import type { FieldMapping } from './entity.ts'

/** A local value a mapping could not read: reported with where it was, then skipped. */
export class RowProblem extends Error {
  constructor(
    readonly column: string,
    problem: string,
  ) {
    super(`${column}: ${problem}`)
  }
}

/** How references between records translate: local ids ↔ object ids, through links. */
export interface ReferenceResolver {
  toObject(localId: string): string | undefined
  toLocal(objectId: string): string | undefined
  /** This instance's id: the key of its own id in an `externalIds` map. */
  self: string
}

export type LocalValue = string | number | bigint | null | Uint8Array

/** A local row's value as a canonical field value; undefined leaves the field unset. */
export function readField(
  mapping: FieldMapping,
  raw: LocalValue | undefined,
  refs: ReferenceResolver,
): FieldValue | undefined {
  if (raw === null || raw === undefined || raw === '') {
    return mapping.default
  }
  if (mapping.type === 'content') {
    // The bytes themselves go to the blob store (LocalSync); the object holds their hash.
    if (!(raw instanceof Uint8Array)) {
      throw new RowProblem(mapping.column, "expected the file's bytes (a BLOB), got text")
    }
    return contentHash(raw)
  }
  if (raw instanceof Uint8Array) throw new RowProblem(mapping.column, 'expected text, got bytes')
  let text = typeof raw === 'string' ? raw : String(raw)
  if (mapping.values !== undefined) {
    // A list maps item by item; anything else as a whole, before its conversion.
    if (mapping.type === 'list') {
      return listItems(text).map((item) => lookUpValue(mapping, item))
    }
    text = lookUpValue(mapping, text)
  }
  switch (mapping.type) {
    case 'text':
      return text
    case 'number': {
      const value = Number(text)
      if (!Number.isSafeInteger(value)) {
        throw new RowProblem(mapping.column, `expected a whole number, got ${JSON.stringify(text)}`)
      }
      return value
    }
    case 'decimal':
      if (!/^-?\d+(\.\d+)?$/.test(text.trim())) {
        throw new RowProblem(
          mapping.column,
          `expected a decimal number, got ${JSON.stringify(text)}`,
        )
      }
      return text.trim()
    case 'boolean':
      if (['1', 'true', 'yes'].includes(text.toLowerCase())) return true
      if (['0', 'false', 'no'].includes(text.toLowerCase())) return false
      throw new RowProblem(mapping.column, `expected a boolean (1/0), got ${JSON.stringify(text)}`)
    case 'date':
      return parseDate(text, mapping.format, mapping.column)
    case 'list':
      return listItems(text)
    case 'reference':
      return refs.toObject(text)
    case 'external-id':
      return { [refs.self]: text }
  }
}

/** The items of a list column: comma-separated, trimmed, empty ones left out. */
function listItems(text: string): string[] {
  const items: string[] = []
  for (const item of text.split(',')) {
    const trimmed = item.trim()
    if (trimmed !== '') items.push(trimmed)
  }
  return items
}

/** The canonical value a local value stands for in the column's value map. */
function lookUpValue(mapping: FieldMapping, local: string): string {
  const canonical = mapping.values?.[local]
  if (canonical === undefined) {
    throw new RowProblem(
      mapping.column,
      `${JSON.stringify(local)} is not in the value map (${Object.keys(mapping.values ?? {}).join(', ')})`,
    )
  }
  return canonical
}

export function contentHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A canonical field value as the local column's value ('content' is LocalSync's to write). */
export function writeField(
  mapping: FieldMapping,
  value: FieldValue | undefined,
  refs: ReferenceResolver,
): LocalValue {
  if (value === undefined) {
    // An unset flag is false, not unknown: boolean columns are usually NOT NULL.
    if (mapping.default !== undefined) value = mapping.default
    else return mapping.type === 'boolean' ? 0 : null
  }
  // Scalars as text; lists and maps only where the conversion expects them.
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value)
  if (mapping.values !== undefined) {
    // The value map applies to canonical values (item by item for lists), before any
    // conversion: { "J": "true" } writes J for true.
    const back = (canonical: string) =>
      Object.entries(mapping.values!).find(([, each]) => each === canonical)?.[0] ?? canonical
    if (mapping.type === 'list' && Array.isArray(value)) return value.map(back).join(',')
    const local = Object.entries(mapping.values).find(([, each]) => each === text)?.[0]
    if (local !== undefined) return local
  }
  let local: LocalValue
  switch (mapping.type) {
    case 'boolean':
      local = value === true ? 1 : 0
      break
    case 'date':
      local = formatDate(text, mapping.format)
      break
    case 'list':
      local = Array.isArray(value) ? value.join(',') : text
      break
    case 'reference':
      local = refs.toLocal(text) ?? null
      break
    case 'external-id':
      local = typeof value === 'object' && !Array.isArray(value) ? (value[refs.self] ?? null) : null
      break
    case 'number':
      local = typeof value === 'number' ? value : Number(text)
      break
    default:
      local = text
  }
  return local
}

/** Each date format's pattern, made once (a mapping has a few; every row reads one). */
const datePatterns = new Map<string, { pattern: RegExp; order: ('yyyy' | 'MM' | 'dd')[] }>()

function dateParts(format: string): { pattern: RegExp; order: ('yyyy' | 'MM' | 'dd')[] } {
  let parts = datePatterns.get(format)
  if (parts === undefined) {
    parts = datePattern(format)
    datePatterns.set(format, parts)
  }
  return parts
}

function datePattern(format: string): { pattern: RegExp; order: ('yyyy' | 'MM' | 'dd')[] } {
  const order: ('yyyy' | 'MM' | 'dd')[] = []
  const source = format.replace(/yyyy|MM|dd|[.*+?^${}()|[\]\\]/g, (token) => {
    if (token === 'yyyy' || token === 'MM' || token === 'dd') {
      order.push(token)
      return token === 'yyyy' ? '(\\d{4})' : '(\\d{1,2})'
    }
    return `\\${token}`
  })
  return { pattern: new RegExp(`^${source}$`), order }
}

function parseDate(text: string, format: string, column: string): string {
  const { pattern, order } = dateParts(format)
  const match = pattern.exec(text.trim())
  const parts: Record<string, number> = {}
  for (const [i, token] of order.entries()) parts[token] = Number(match?.[i + 1])
  const [year, month, day] = [parts.yyyy!, parts.MM!, parts.dd!]
  // setUTCFullYear, not Date.UTC, which reads years 0–99 as 1900–1999.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  if (
    match === null ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day
  ) {
    throw new RowProblem(column, `expected a date as ${format}, got ${JSON.stringify(text)}`)
  }
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`
}

function formatDate(iso: string, format: string): string {
  const [year, month, day] = iso.split('-')
  return format
    .replace('yyyy', year ?? '')
    .replace('MM', month ?? '')
    .replace('dd', day ?? '')
}
