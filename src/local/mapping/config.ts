// Reading `local.entities` from config.json: each entity given there replaces the
// default one; anything that is not a valid mapping stops start-up with INVALID_CONFIG,
// naming the file, the path in it and what was expected.
import { z } from 'zod'
import { ObjectSyncError } from '../../errors.ts'
import { FIELD_SPECS, OBJECT_TYPES, isObjectType, type ObjectType } from '../../model/index.ts'
import {
  CONVERSIONS,
  defaultEntity,
  fieldMapping,
  type EntityMapping,
  type FieldMapping,
  type WhereValue,
} from './entity.ts'

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
    where: z
      .record(identifier, z.union([z.string(), z.number(), z.boolean(), z.null()]), {
        error: 'expected columns and the value each must have, e.g. { "is_company": false }',
      })
      .optional(),
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
      where: rowFilter(entity, fields, file, `${at}.${type}.where`),
      customFieldsTable: false,
    })
  }
  checkSharedTables(mapping, file, at)
  return mapping
}

/** The entity's `where`, whose columns may be neither its key nor a mapped field's. */
function rowFilter(
  entity: z.infer<typeof entityConfig>,
  fields: readonly FieldMapping[],
  file: string,
  at: string,
): Record<string, WhereValue> {
  const where = entity.where ?? {}
  const taken = Object.keys(where).find(
    (column) => column === entity.key || fields.some((mapped) => mapped.column === column),
  )
  if (taken !== undefined) {
    const path = `${at}.${taken}`
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `${file}: ${path}: the column that tells this entity's rows apart can't also be its key or a mapped field's`,
      { details: { file, path } },
    )
  }
  return where
}

/**
 * Two entities in one table: one key column (its change log names rows by it), and
 * neither maps a column the other's filter reads (a write would move the row across).
 */
function sameKeyAndFilters(
  entity: EntityMapping,
  other: EntityMapping,
  file: string,
  at: string,
): void {
  if (entity.key !== other.key) {
    const path = `${at}.${other.type}.key`
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `${file}: ${path}: ${entity.type} and ${other.type} are both in the table ${entity.table}, so they have one key column (${entity.key})`,
      { details: { file, path } },
    )
  }
  for (const [mapper, filtered] of [
    [entity, other],
    [other, entity],
  ] as const) {
    const column = mapper.fields.find((mapped) => mapped.column in filtered.where)?.column
    if (column === undefined) continue
    const path = `${at}.${filtered.type}.where.${column}`
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `${file}: ${path}: ${mapper.type} maps the column ${column}, which tells ${filtered.type}'s rows apart in ${entity.table}`,
      { details: { file, path } },
    )
  }
}

/**
 * Entities in one table must be told apart: each has a `where`, and any two differ in
 * the value of a column both name (else a row would be two records at once).
 */
function checkSharedTables(
  mapping: ReadonlyMap<ObjectType, EntityMapping>,
  file: string,
  at: string,
): void {
  const entities = [...mapping.values()]
  for (const [index, entity] of entities.entries()) {
    for (const other of entities.slice(index + 1)) {
      if (other.table !== entity.table) continue
      sameKeyAndFilters(entity, other, file, at)
      const apart = Object.entries(entity.where).some(
        ([column, value]) => column in other.where && other.where[column] !== value,
      )
      if (apart) continue
      const path = `${at}.${other.type}.where`
      throw new ObjectSyncError(
        'INVALID_CONFIG',
        `${file}: ${path}: ${entity.type} and ${other.type} are both in the table ${entity.table}; ` +
          `give each a "where" with a column they differ in, e.g. { "is_company": false }`,
        { details: { file, path } },
      )
    }
  }
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
