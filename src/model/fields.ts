// The canonical types of INTERFACE.md, described once as data. Validation (zod) and the
// document encoding in the store are both derived from these tables.

export const OBJECT_TYPES = ['person', 'organization', 'transaction', 'file'] as const
export type ObjectType = (typeof OBJECT_TYPES)[number]

/**
 * How a field's value looks. All kinds except `boolean`, `integer`, `list` and `map` are
 * strings with a format; lists and maps hold strings.
 */
export type FieldKind =
  | 'text'
  | 'date'
  | 'decimal'
  | 'email'
  | 'objectId'
  | 'sha256'
  | 'boolean'
  | 'integer'
  | 'list'
  | 'map'

export interface FieldSpec {
  kind: FieldKind
  /** Must be present on create and can't be cleared. */
  required?: boolean
}

export const FIELD_SPECS = {
  person: {
    firstName: { kind: 'text', required: true },
    lastName: { kind: 'text', required: true },
    email: { kind: 'email' },
    phone: { kind: 'text' },
    birthday: { kind: 'date' },
    title: { kind: 'text' },
    organizationId: { kind: 'objectId' },
    roles: { kind: 'list' },
    favourite: { kind: 'boolean' },
    archived: { kind: 'boolean' },
  },
  organization: {
    name: { kind: 'text', required: true },
    orgNumber: { kind: 'text' },
    email: { kind: 'email' },
    phone: { kind: 'text' },
    website: { kind: 'text' },
    address: { kind: 'text' },
    categories: { kind: 'list' },
    favourite: { kind: 'boolean' },
    archived: { kind: 'boolean' },
  },
  transaction: {
    type: { kind: 'text', required: true },
    personId: { kind: 'objectId' },
    organizationId: { kind: 'objectId' },
    date: { kind: 'date', required: true },
    amount: { kind: 'decimal' },
    currency: { kind: 'text' },
    description: { kind: 'text' },
    externalIds: { kind: 'map' },
  },
  file: {
    ownerId: { kind: 'objectId' },
    kind: { kind: 'text' },
    name: { kind: 'text', required: true },
    mediaType: { kind: 'text' },
    size: { kind: 'integer' },
    sha256: { kind: 'sha256' },
  },
} as const satisfies Record<ObjectType, Record<string, FieldSpec>>

export type FieldValue = string | number | boolean | string[] | Record<string, string>
export type Fields = Record<string, FieldValue>
export type CustomValue = string | number | boolean
export type CustomFields = Record<string, CustomValue>

/** A patch: a value sets the field, `null` clears it, an absent key leaves it alone. */
export type FieldsPatch = Record<string, FieldValue | null>
export type CustomPatch = Record<string, CustomValue | null>

export function isObjectType(value: unknown): value is ObjectType {
  return typeof value === 'string' && (OBJECT_TYPES as readonly string[]).includes(value)
}

export function fieldSpec(type: ObjectType, field: string): FieldSpec | undefined {
  const specs: Record<string, FieldSpec> = FIELD_SPECS[type]
  return Object.hasOwn(specs, field) ? specs[field] : undefined
}
