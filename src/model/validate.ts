// Validation at the edges: API bodies, connector rows and remote documents are checked
// here once; code past this point trusts the types.
import { z } from 'zod'
import { ObjectSyncError } from '../errors.ts'
import {
  FIELD_SPECS,
  type CustomFields,
  type CustomPatch,
  type FieldKind,
  type FieldSpec,
  type Fields,
  type FieldsPatch,
  type ObjectType,
} from './fields.ts'

// Bounds keep one record small enough to fit many in a frame and to never balloon a
// document: no field of a contact record needs more than 64 KiB.
const MAX_TEXT = 65_536
const MAX_LIST_ITEMS = 1_000
const MAX_CUSTOM_NAME = 128

// A key that JavaScript objects treat specially would not survive being materialized.
const notSpecialKey = (key: string) => key !== '__proto__'

// A lone surrogate (half of a UTF-16 pair, which JSON's \ud800 escapes can carry) is not
// Unicode: no UTF-8 encoding, so no document or local system could hold it.
const LONE_SURROGATE = /\p{Cs}/u
const wellFormed = (value: string) => !LONE_SURROGATE.test(value)
const NOT_UNICODE = 'expected text without lone surrogates (not valid Unicode)'

const text = z
  .string()
  .max(MAX_TEXT, `expected at most ${MAX_TEXT} characters`)
  .refine(wellFormed, NOT_UNICODE)

function isCalendarDate(value: string): boolean {
  const [year, month, day] = value.split('-').map(Number) as [number, number, number]
  // setUTCFullYear, not Date.UTC, which reads years 0–99 as 1900–1999.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  return (
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  )
}

const VALUE_SCHEMAS: Record<FieldKind, z.ZodType> = {
  text,
  email: text.regex(/^[^\s@]+@[^\s@]+$/, 'expected an email address'),
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD')
    .refine(isCalendarDate, 'expected a calendar date as YYYY-MM-DD'),
  decimal: z
    .string()
    .regex(/^-?\d{1,30}(\.\d{1,18})?$/, 'expected a decimal string such as "125.50"'),
  objectId: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'expected an object id'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256)'),
  boolean: z.boolean('expected true or false'),
  integer: z.number().int('expected an integer').nonnegative('expected a non-negative integer'),
  list: z.array(text).max(MAX_LIST_ITEMS, `expected at most ${MAX_LIST_ITEMS} items`),
  map: z.record(text.refine(notSpecialKey, 'expected a key other than __proto__'), text),
}

const customName = z
  .string()
  .min(1, 'expected a non-empty custom field name')
  .refine(notSpecialKey, 'expected a name other than __proto__')
  .max(MAX_CUSTOM_NAME, `expected at most ${MAX_CUSTOM_NAME} characters`)
  .refine(wellFormed, NOT_UNICODE)
// Numbers beyond ±(2^53 − 1) lose precision in JavaScript and in Automerge alike.
const customNumber = z
  .number()
  .min(-Number.MAX_SAFE_INTEGER, 'expected a number within ±(2^53 − 1)')
  .max(Number.MAX_SAFE_INTEGER, 'expected a number within ±(2^53 − 1)')
const customValue = z.union([text, customNumber, z.boolean()], {
  error: 'expected a string, a finite number or a boolean',
})

type Mode = 'create' | 'patch'

function fieldsSchema(type: ObjectType, mode: Mode): z.ZodType {
  const specs: Record<string, FieldSpec> = FIELD_SPECS[type]
  const shape: Record<string, z.ZodType> = {}
  for (const [name, spec] of Object.entries(specs)) {
    const value = VALUE_SCHEMAS[spec.kind]
    if (mode === 'create') shape[name] = spec.required ? value : value.optional()
    else shape[name] = spec.required ? value.optional() : value.nullable().optional()
  }
  return z.strictObject(shape)
}

function schemasFor(type: ObjectType): Record<Mode, z.ZodType> {
  return {
    create: z.strictObject({
      fields: fieldsSchema(type, 'create'),
      custom: z.record(customName, customValue).optional(),
    }),
    patch: z.strictObject({
      fields: fieldsSchema(type, 'patch').optional(),
      custom: z.record(customName, customValue.nullable()).optional(),
    }),
  }
}

const SCHEMAS = {
  person: schemasFor('person'),
  organization: schemasFor('organization'),
  transaction: schemasFor('transaction'),
  file: schemasFor('file'),
} satisfies Record<ObjectType, Record<Mode, z.ZodType>>

export interface NewObjectInput {
  fields: Fields
  custom?: CustomFields
}

export interface ObjectPatch {
  fields?: FieldsPatch
  custom?: CustomPatch
}

function refuse(type: ObjectType, error: z.ZodError): never {
  const issue = error.issues[0]!
  const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined
  const segments = unknownKey === undefined ? issue.path : [...issue.path, unknownKey]
  const where = segments.reduce<string>((path, segment) => path + formatSegment(segment), type)
  // A bad record key (a custom field name) nests the real reason one level down.
  const reason =
    issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message
  const what = unknownKey === undefined ? reason : 'unknown field'
  throw new ObjectSyncError('INVALID_OBJECT', `${where}: ${what}`, { details: { path: where } })
}

// `person.fields.roles[2]`, `person.custom["odd name"]`: a path a person can paste.
function formatSegment(segment: PropertyKey): string {
  if (typeof segment === 'number') return `[${segment}]`
  const name = String(segment)
  return /^[A-Za-z_][\w-]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`
}

/** Checks a whole new object of `type`; throws INVALID_OBJECT naming the first bad field. */
export function validateNewObject(type: ObjectType, input: unknown): NewObjectInput {
  const result = SCHEMAS[type].create.safeParse(input)
  if (!result.success) refuse(type, result.error)
  return result.data as NewObjectInput
}

/** Checks a partial update of an object of `type`. */
export function validatePatch(type: ObjectType, input: unknown): ObjectPatch {
  const result = SCHEMAS[type].patch.safeParse(input)
  if (!result.success) refuse(type, result.error)
  return result.data as ObjectPatch
}
