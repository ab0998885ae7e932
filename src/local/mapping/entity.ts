// What a mapping is: which table holds an entity, which column its key, and for each
// canonical field its column and conversion; and the default schema of INTERFACE.md,
// the mapping every entity has unless config.json's `local.entities` replaces it.
import { FIELD_SPECS, type FieldValue, type ObjectType } from '../../model/index.ts'

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

/** A value a row filter compares a column with. */
export type WhereValue = string | number | boolean | null

export interface EntityMapping {
  type: ObjectType
  table: string
  key: string
  fields: FieldMapping[]
  /**
   * Which rows of the table are this entity's (every column equal to its value; empty:
   * every row), for a table that holds several entities told apart by a column (Odoo's
   * `res_partner` with `is_company`). A row the daemon inserts gets these values.
   */
  where: Readonly<Record<string, WhereValue>>
  /** Whether custom fields live in the default schema's custom_fields table. */
  customFieldsTable: boolean
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

export function fieldMapping(type: ObjectType, field: string, column: string): FieldMapping {
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
    where: {},
    customFieldsTable: true,
  }
}
