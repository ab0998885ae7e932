// Mapping between a local system's tables and the canonical types: which table holds an
// entity, which column its key, and how each canonical field reads from and writes to a
// column, with type conversion (text, number, decimal, boolean, dates in a format, comma
// lists, value maps, defaults). The default schema of INTERFACE.md is one such mapping;
// `local.entities` in config.json replaces it entity by entity.
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { ObjectSyncError } from '../errors.ts'
import {
  FIELD_SPECS,
  OBJECT_TYPES,
  isObjectType,
  type FieldValue,
  type ObjectType,
} from '../model/index.ts'

export const CONVERSIONS = [
  'text',
  'number',
  'decimal',
  'boolean',
  'date',
  'list',
  'reference',
  'external-id',
  'content',
] as const
export type Conversion = (typeof CONVERSIONS)[number]

export interface FieldMapping {
  field: string
  column: string
  type: Conversion
  /** For dates: tokens yyyy, MM, dd and any separators, e.g. dd.MM.yyyy. */
  format: string
  /** Local value → canonical value; reversed when writing. */
  values: Record<string, string> | undefined
  default: FieldValue | undefined
}

export interface EntityMapping {
  type: ObjectType
  table: string
  key: string
  fields: FieldMapping[]
  /** Whether custom fields live in the default schema's custom_fields table. */
  customFieldsTable: boolean
}

/** A local value a mapping could not read: reported with where it was, then skipped. */
export class RowProblem extends Error {
  constructor(
    readonly column: string,
    problem: string,
  ) {
    super(`${column}: ${problem}`)
  }
}

const DEFAULT_DATE_FORMAT = 'yyyy-MM-dd'

const DEFAULT_TABLES: Record<ObjectType, { table: string; columns: Record<string, string> }> = {
  person: {
    table: 'persons',
    columns: {
      firstName: 'first_name',
      lastName: 'last_name',
      email: 'email',
      phone: 'phone',
      birthday: 'birthday',
      title: 'title',
      organizationId: 'organization_id',
      roles: 'role',
      favourite: 'favourite',
      archived: 'archived',
    },
  },
  organization: {
    table: 'organizations',
    columns: {
      name: 'name',
      orgNumber: 'org_number',
      email: 'email',
      phone: 'phone',
      website: 'website',
      address: 'address',
      categories: 'category',
      favourite: 'favourite',
      archived: 'archived',
    },
  },
  transaction: {
    table: 'transactions',
    columns: {
      type: 'type',
      personId: 'person_id',
      organizationId: 'organization_id',
      date: 'date',
      amount: 'amount',
      currency: 'currency',
      description: 'description',
      externalIds: 'donor_id',
    },
  },
  file: {
    table: 'files',
    columns: {
      ownerId: 'person_id',
      kind: 'kind',
      name: 'name',
      mediaType: 'media_type',
      // The column holds the file's bytes; the object, their sha256 (see 'content').
      sha256: 'content',
    },
  },
}

/** The conversion a canonical field gets when the mapping names none. */
function defaultConversion(type: ObjectType, field: string): Conversion {
  const kind = (FIELD_SPECS[type] as Record<string, { kind: string }>)[field]?.kind
  switch (kind) {
    case 'integer':
      return 'number'
    case 'decimal':
    case 'boolean':
    case 'date':
    case 'list':
      return kind
    case 'objectId':
      return 'reference'
    case 'map':
      return 'external-id'
    case 'sha256':
      return 'content'
    default:
      return 'text'
  }
}

function fieldMapping(type: ObjectType, field: string, column: string): FieldMapping {
  return {
    field,
    column,
    type: defaultConversion(type, field),
    format: DEFAULT_DATE_FORMAT,
    values: undefined,
    default: undefined,
  }
}

export function defaultEntity(type: ObjectType): EntityMapping {
  const { table, columns } = DEFAULT_TABLES[type]
  return {
    type,
    table,
    key: 'id',
    fields: Object.entries(columns).map(([field, column]) => fieldMapping(type, field, column)),
    customFieldsTable: true,
  }
}

// ── config ──────────────────────────────────────────────────────────────────────────

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a table or column name (letters, digits, _)')

const fieldConfig = z.union([
  identifier,
  z
    .object({
      column: identifier,
      type: z.enum(CONVERSIONS).optional(),
      format: z
        .string()
        .refine((format) => /yyyy/.test(format) && /MM/.test(format) && /dd/.test(format), {
          message: 'expected a date format with yyyy, MM and dd, e.g. dd.MM.yyyy',
        })
        .optional(),
      values: z.record(z.string(), z.string()).optional(),
      default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    })
    .strict(),
])

const entityConfig = z
  .object({
    table: identifier,
    key: identifier,
    fields: z.record(z.string(), fieldConfig),
  })
  .strict()

const entitiesConfig = z.record(z.string(), entityConfig)

/**
 * The mapping of every entity: the default schema, replaced entity by entity by
 * `entities` (config.json's `local.entities`). Throws INVALID_CONFIG naming the file,
 * the path in it and what was expected.
 */
export function mappingFromConfig(
  entities: unknown,
  file = 'config.json',
  at = 'local.entities',
): Map<ObjectType, EntityMapping> {
  const parsed = entitiesConfig.safeParse(entities ?? {})
  if (!parsed.success) {
    const issue = deepestIssue(parsed.error.issues[0]!)
    const path = [at, ...issue.path.map(String)].join('.')
    throw new ObjectSyncError('INVALID_CONFIG', `${file}: ${path}: ${issue.message}`, {
      details: { file, path },
    })
  }
  const mapping = new Map(OBJECT_TYPES.map((type) => [type, defaultEntity(type)]))
  for (const [type, entity] of Object.entries(parsed.data)) {
    if (!isObjectType(type)) {
      throw new ObjectSyncError(
        'INVALID_CONFIG',
        `${file}: ${at}.${type}: expected an object type (${OBJECT_TYPES.join(', ')})`,
        { details: { file, path: `${at}.${type}` } },
      )
    }
    const fields: FieldMapping[] = []
    for (const [field, config] of Object.entries(entity.fields)) {
      const path = `${at}.${type}.fields.${field}`
      if (!(field in FIELD_SPECS[type])) {
        throw new ObjectSyncError(
          'INVALID_CONFIG',
          `${file}: ${path}: ${type} has no field ${field} (it has ${Object.keys(FIELD_SPECS[type]).join(', ')})`,
          { details: { file, path } },
        )
      }
      const base = fieldMapping(type, field, typeof config === 'string' ? config : config.column)
      if (typeof config !== 'string') {
        base.type = config.type ?? base.type
        base.format = config.format ?? base.format
        base.values = config.values
        base.default = config.default
      }
      const kind = (FIELD_SPECS[type] as Record<string, { kind: string }>)[field]?.kind
      if (base.type === 'content' && kind !== 'sha256') {
        throw new ObjectSyncError(
          'INVALID_CONFIG',
          `${file}: ${path}.type: "content" maps a file's bytes to its sha256; ${type}.${field} is not that field`,
          { details: { file, path: `${path}.type` } },
        )
      }
      fields.push(base)
    }
    const required = Object.entries(FIELD_SPECS[type])
      .filter(([, spec]) => (spec as { required?: boolean }).required === true)
      .map(([name]) => name)
      .filter((name) => !fields.some((mapped) => mapped.field === name))
    if (required.length > 0) {
      throw new ObjectSyncError(
        'INVALID_CONFIG',
        `${file}: ${at}.${type}.fields: expected a mapping for the required field ${required[0]}`,
        { details: { file, path: `${at}.${type}.fields` } },
      )
    }
    mapping.set(type, {
      type,
      table: entity.table,
      key: entity.key,
      fields,
      customFieldsTable: false,
    })
  }
  return mapping
}

/**
 * For a value that fits no branch of a union (a column name, or a column object), the
 * issue of the branch that got furthest: "lastName.type: expected one of …" rather than
 * "lastName: Invalid input".
 */
function deepestIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue
  const candidates = issue.errors.flat().map((inner) => {
    const deepest = deepestIssue(inner)
    return { path: [...issue.path, ...deepest.path], message: deepest.message }
  })
  return candidates.reduce((best, each) => (each.path.length > best.path.length ? each : best))
}

// ── conversion ──────────────────────────────────────────────────────────────────────

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
  const values = mapping.values
  const lookUp = (local: string): string => {
    const canonical = values?.[local]
    if (canonical === undefined) {
      throw new RowProblem(
        mapping.column,
        `${JSON.stringify(local)} is not in the value map (${Object.keys(values ?? {}).join(', ')})`,
      )
    }
    return canonical
  }
  if (values !== undefined) {
    // A list maps item by item; anything else as a whole, before its conversion.
    if (mapping.type === 'list') {
      return text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
        .map(lookUp)
    }
    text = lookUp(text)
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
      return text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
    case 'reference':
      return refs.toObject(text)
    case 'external-id':
      return { [refs.self]: text }
  }
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

function dateParts(format: string): { pattern: RegExp; order: ('yyyy' | 'MM' | 'dd')[] } {
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
  order.forEach((token, i) => (parts[token] = Number(match?.[i + 1])))
  const [year, month, day] = [parts.yyyy!, parts.MM!, parts.dd!]
  const date = new Date(Date.UTC(year, month - 1, day))
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
