// Random requests for the HTTP API fuzzer (test/api-fuzz.test.ts), driven by the API's own
// OpenAPI document: for each operation, path parameters, a query and a body that are valid
// by the document's schemas, or broken in one of many ways (wrong types, unknown keys,
// huge or deeply nested values, text that is not JSON, the wrong content type), and
// headers with a good or bad token, Host and Origin. Also a small JSON Schema check, for
// the subset the document uses, to tell whether a body the API took was one it describes.
import { encode } from 'cborg'
import {
  FIELD_SPECS,
  OBJECT_TYPES,
  type FieldKind,
  type ObjectType,
} from '../../src/model/index.ts'
import {
  AWKWARD_PIECES,
  NOT_JSON,
  ODD_NUMBERS,
  awkwardText,
  deeplyNested,
  hex64,
  jsonValue,
  longText,
  plainText,
  randomBytesOf,
  type Random,
} from './fuzz-values.ts'

export interface JsonSchema {
  type?: string
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  enum?: unknown[]
  minLength?: number
  maxLength?: number
  pattern?: string
  minimum?: number
  maximum?: number
}

/** One method of one path, as the OpenAPI document describes it. */
export interface Operation {
  method: string
  /** The path with `{name}` parameters. */
  path: string
  public: boolean
  pathParameters: string[]
  query: { name: string; required: boolean; schema: JsonSchema }[]
  /** The JSON body's schema (and whether it may be left out), or the media type of a raw body. */
  body: { json: JsonSchema; required: boolean } | { raw: string } | undefined
  ok: { status: number; type: string | undefined }
}

interface OpenApiOperation {
  security?: unknown[]
  parameters: { name: string; in: string; required: boolean; schema: JsonSchema }[]
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> }
  responses: Record<string, { content?: Record<string, unknown> }>
}

export function operationsOf(document: {
  paths: Record<string, Record<string, OpenApiOperation>>
}): Operation[] {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      const [status, response] = Object.entries(operation.responses).find(
        ([key]) => key !== 'default',
      )!
      const content = Object.entries(operation.requestBody?.content ?? {})[0]
      return {
        method: method.toUpperCase(),
        path,
        public: operation.security?.length === 0,
        pathParameters: operation.parameters.filter((p) => p.in === 'path').map((p) => p.name),
        query: operation.parameters.filter((p) => p.in === 'query'),
        body:
          content === undefined
            ? undefined
            : content[0] === 'application/json'
              ? { json: content[1].schema, required: operation.requestBody!.required }
              : { raw: content[0] },
        ok: { status: Number(status), type: Object.keys(response.content ?? {})[0] },
      }
    }),
  )
}

/** Whether `value` is valid by `schema` (the subset of JSON Schema the document uses). */
export function matchesSchema(schema: JsonSchema, value: unknown): boolean {
  if (schema.enum !== undefined && !schema.enum.includes(value)) return false
  switch (schema.type) {
    case 'string':
      return (
        typeof value === 'string' &&
        [...value].length >= (schema.minLength ?? 0) &&
        [...value].length <= (schema.maxLength ?? Infinity) &&
        (schema.pattern === undefined || new RegExp(schema.pattern, 'u').test(value))
      )
    case 'integer':
      return (
        Number.isInteger(value) &&
        (value as number) >= (schema.minimum ?? -Infinity) &&
        (value as number) <= (schema.maximum ?? Infinity)
      )
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
      const record = value as Record<string, unknown>
      if (!(schema.required ?? []).every((name) => name in record)) return false
      return Object.entries(record).every(([name, each]) => {
        const property = schema.properties?.[name]
        if (property !== undefined) return matchesSchema(property, each)
        const extra = schema.additionalProperties
        return (
          extra === undefined || extra === true || (extra !== false && matchesSchema(extra, each))
        )
      })
    }
    default:
      return true
  }
}

/** A value in the conflict inbox: what resolving it names. */
export interface ConflictValue {
  object: string
  field: string
  by: string
  at: number
}

/** What the fuzzer knows of the daemon's state, to aim some requests at real things. */
export interface Targets {
  objects: string[]
  deleted: string[]
  /** Each object's type, for patches of fields it has. */
  types: Map<string, ObjectType>
  conflicts: ConflictValue[]
  blobs: string[]
  cursors: string[]
  instanceId: string
}

/** What one body is made for: the daemon's state, and the object the path names. */
interface BodyContext {
  targets: Targets
  patch: boolean
  subject: string | undefined
}

export interface FuzzRequest {
  method: string
  url: string
  headers: Record<string, string>
  payload: string | Buffer | undefined
  /** The body as parsed JSON, when it is JSON and was sent as application/json. */
  json?: { value: unknown }
  /** Whether the request passes the guard: Host and Origin ours, the token (or public). */
  admitted: boolean
}

const TOKEN_GARBAGE = ['', 'os1.', 'os1', 'os1.!!!!', 'os2.AAAA', 'Bearer x']

/** A pairing token: garbage, base64url of random bytes, or CBOR close to a real one. */
function pairingToken(random: Random): string {
  switch (random.int(4)) {
    case 0:
      return random.pick(TOKEN_GARBAGE) + awkwardText(random, 3)
    case 1:
      return `os1.${randomBytesOf(random, random.int(300)).toString('base64url')}`
    default: {
      // The right shape with wrong parts: inviter, addresses, name, id, secret, expiry.
      // Addresses are never real ones, so no request dials anywhere.
      const fields: unknown[] = [
        random.chance(0.8) ? `12D3KooW${plainText(random, 44)}` : jsonValue(random, 1),
        random.chance(0.8) ? [awkwardText(random, 2)] : jsonValue(random, 1),
        random.chance(0.8) ? awkwardText(random, 3) : jsonValue(random, 1),
        randomBytesOf(random, random.chance(0.8) ? 8 : random.int(40)),
        randomBytesOf(random, random.chance(0.8) ? 32 : random.int(40)),
        random.chance(0.5) ? random.pick(ODD_NUMBERS) : -random.pick(ODD_NUMBERS),
      ]
      if (random.chance(0.1)) fields.pop()
      const body = Buffer.from(encode(fields) as Uint8Array).toString('base64url')
      return `os1.${body}`
    }
  }
}

const DURATION_UNITS = ['ms', 's', 'm', 'h', 'd', '', 'w', 'H']

function duration(random: Random): string {
  const amount = random.chance(0.7)
    ? String(random.between(0, 100))
    : random.pick(['9007199254740991', '99999999999', '1e3', '-1', '1.5', '0x10', ''])
  // The largest safe amount is a valid duration only in milliseconds.
  const unit = amount.length > 10 && random.chance(0.5) ? 'ms' : random.pick(DURATION_UNITS)
  return `${random.chance(0.1) ? ' ' : ''}${amount}${unit}`
}

/** A random text between the schema's length bounds (by code points). */
function textWithin(random: Random, schema: JsonSchema): string {
  const min = schema.minLength ?? 0
  const max = Math.min(schema.maxLength ?? 40, min + 40)
  let text = awkwardText(random, 4)
  while ([...text].length < min) text += plainText(random, 4)
  return [...text].slice(0, Math.max(min, random.between(min, max))).join('')
}

function fieldValue(random: Random, kind: FieldKind): unknown {
  // Most values are valid, so that many creates and patches go through: a few of the wrong
  // type, a few of the right type in the wrong form.
  if (random.chance(0.08)) return jsonValue(random, 2)
  switch (kind) {
    case 'email':
      return random.chance(0.9) ? `${plainText(random)}@${plainText(random)}` : awkwardText(random)
    case 'date':
      return random.chance(0.9)
        ? random.pick(['2024-02-29', '1990-12-31', '0001-01-01', '9999-12-31'])
        : random.pick(['2023-02-29', '31.12.1990', '1990-1-5', ''])
    case 'decimal':
      return random.chance(0.9)
        ? random.pick(['125.50', '-3', '0', '1'.repeat(30), `0.${'5'.repeat(18)}`])
        : random.pick(['1e5', '12,5', '1'.repeat(31), ' 5', '.5'])
    case 'objectId':
      return random.chance(0.9)
        ? '01JF00000000000000000000AB'
        : random.pick(['not-an-id', '01jf00000000000000000000ab'])
    case 'sha256':
      return random.chance(0.9) ? hex64(random) : hex64(random).toUpperCase()
    case 'boolean':
      return random.chance(0.9) ? random.chance(0.5) : random.pick([0, 1, 'true'])
    case 'integer':
      return random.chance(0.9) ? random.int(1_000_000) : random.pick(ODD_NUMBERS)
    case 'list':
      return Array.from({ length: random.int(4) }, () =>
        random.chance(0.9) ? awkwardText(random, 3) : jsonValue(random, 1),
      )
    case 'map':
      return { [plainText(random)]: random.chance(0.9) ? plainText(random) : jsonValue(random, 1) }
    default:
      return random.chance(0.02)
        ? longText(random, random.pick([65_536, 65_537]))
        : awkwardText(random)
  }
}

/** The fields of an object of `type` (any type when unknown): mostly valid, some not. */
function fieldsOf(random: Random, type: unknown, patch: boolean): Record<string, unknown> {
  const specs = FIELD_SPECS[
    OBJECT_TYPES.includes(type as ObjectType) ? (type as ObjectType) : random.pick(OBJECT_TYPES)
  ] as Record<string, { kind: FieldKind; required?: boolean }>
  const fields: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(specs)) {
    if ((spec.required === true && !patch) || random.chance(0.25)) {
      fields[name] = patch && random.chance(0.1) ? null : fieldValue(random, spec.kind)
    }
  }
  if (random.chance(0.05)) fields[awkwardText(random, 2)] = jsonValue(random, 1)
  return fields
}

function customOf(random: Random): Record<string, unknown> {
  return Object.fromEntries(
    Array.from({ length: random.int(4) }, () => [
      random.chance(0.95) ? plainText(random) : random.pick(['', longText(random, 129), '😀']),
      random.chance(0.9)
        ? random.pick([awkwardText(random), random.between(-99, 99), true, null])
        : jsonValue(random, 2),
    ]),
  )
}

/** A value valid by `schema` (and, where the name says what it is, one that means something). */
function validValue(
  random: Random,
  schema: JsonSchema,
  name: string,
  body: Record<string, unknown>,
  context: BodyContext,
): unknown {
  const { targets, patch, subject } = context
  if (schema.enum !== undefined) return random.pick(schema.enum)
  if (schema.type === 'object') {
    const type = patch && subject !== undefined ? targets.types.get(subject) : body.type
    if (name === 'fields') return fieldsOf(random, type, patch)
    if (name === 'custom') return customOf(random)
    return validObject(random, schema, context)
  }
  if (schema.type === 'integer') {
    const min = Math.max(schema.minimum ?? -1e15, -1e15)
    const max = Math.min(schema.maximum ?? 1e15, 1e15)
    return random.chance(0.5)
      ? random.between(min, Math.min(max, min + 100))
      : random.between(min, max)
  }
  switch (name) {
    case 'with':
      return random.chance(0.8) && targets.objects.length > 0
        ? random.pick([...targets.objects, ...targets.deleted])
        : textWithin(random, schema)
    case 'token':
      return pairingToken(random)
    case 'expires':
      return duration(random)
    case 'field':
      return random.pick(['firstName', 'email', 'custom.level', textWithin(random, schema)])
    case 'by':
      return random.chance(0.5) ? targets.instanceId : textWithin(random, schema)
    default:
      return textWithin(random, schema)
  }
}

function validObject(
  random: Random,
  schema: JsonSchema,
  context: BodyContext,
): Record<string, unknown> {
  // Resolving: most of the time a value the inbox holds for the object.
  const held = context.targets.conflicts.filter((each) => each.object === context.subject)
  if (schema.properties?.at !== undefined && held.length > 0 && random.chance(0.7)) {
    const { field, by, at } = random.pick(held)
    return { field, by, at }
  }
  const body: Record<string, unknown> = {}
  // `type` first: the fields are chosen for it.
  const names = Object.keys(schema.properties ?? {}).sort((a) => (a === 'type' ? -1 : 0))
  for (const name of names) {
    if (!(schema.required ?? []).includes(name) && random.chance(0.4)) continue
    body[name] = validValue(random, schema.properties![name]!, name, body, context)
  }
  return body
}

/** One of many ways to break a valid body. */
function brokenBody(random: Random, valid: Record<string, unknown>): string {
  const names = Object.keys(valid)
  switch (random.int(9)) {
    case 0:
      return random.pick(NOT_JSON)
    case 1:
      return deeplyNested(random, random.pick([50, 1000, 100_000]))
    case 2:
      return JSON.stringify(jsonValue(random, 3))
    case 3: {
      // An unknown key.
      return JSON.stringify({ ...valid, [random.pick(['extra', 'Type', '', 'constructor'])]: 1 })
    }
    case 4:
      if (names.length > 0) delete valid[random.pick(names)]
      return JSON.stringify(valid)
    case 5:
      if (names.length > 0) valid[random.pick(names)] = jsonValue(random, 2)
      return JSON.stringify(valid)
    case 6:
      // Around the 1 MiB body limit and the 64 KiB field limit.
      valid[names.length > 0 ? random.pick(names) : 'x'] = longText(
        random,
        random.pick([65_537, 1024 * 1024 - 40, 1024 * 1024 + 1]),
      )
      return JSON.stringify(valid)
    case 7: {
      // Truncated JSON.
      const text = JSON.stringify(valid)
      return text.slice(0, random.int(text.length))
    }
    default:
      return JSON.stringify(valid).replace(/"/, random.pick(AWKWARD_PIECES))
  }
}

const OTHER_CONTENT_TYPES = [
  'text/plain',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonx',
  'application/json-patch+json',
  '*/*',
  'garbage',
]

/** `text` percent-encoded; a lone surrogate as the bytes WTF-8 gives it (not UTF-8). */
function percentEncoded(text: string): string {
  return text.replace(/[\s\S]/gu, (char) => {
    try {
      return encodeURIComponent(char)
    } catch {
      return '%ED%A0%80'
    }
  })
}

/** A path parameter: an id or sha256 the daemon holds, one in form, or garbage. */
function pathValue(random: Random, name: string, targets: Targets, path: string): string {
  const roll = random.int(10)
  if (roll < 2 && path.startsWith('/v1/conflicts/') && targets.conflicts.length > 0) {
    return random.pick(targets.conflicts).object
  }
  if (roll < 5) {
    if (name === 'sha256') {
      return random.chance(0.6) && targets.blobs.length > 0
        ? random.pick(targets.blobs)
        : hex64(random)
    }
    const pool = [...targets.objects, ...targets.deleted, targets.instanceId]
    return random.chance(0.8) && pool.length > 0 ? random.pick(pool) : '01JF00000000000000000000AB'
  }
  if (roll < 6) return random.pick(['%', '%zz', '%c3%28', '%00', '%2F', '..%2F..', '%E2%80%AE'])
  if (roll < 7) return longText(random, random.pick([300, 5000, 70_000]))
  return percentEncoded(awkwardText(random, 4)) || 'x'
}

/** A query value valid by its schema, or not. */
function queryValue(random: Random, schema: JsonSchema, name: string, targets: Targets): string {
  if (random.chance(0.6)) {
    if (schema.enum !== undefined) return String(random.pick(schema.enum))
    if (schema.type === 'integer') {
      const min = schema.minimum ?? 0
      return String(random.between(min, Math.min(schema.maximum ?? 1e6, min + 2000)))
    }
    if (name === 'after' && targets.cursors.length > 0 && random.chance(0.5)) {
      return random.pick(targets.cursors)
    }
    if (name === 'sha256') return hex64(random)
  }
  return random.pick([
    '',
    '-1',
    '0',
    '1.5',
    '1e3',
    '0x10',
    ' 5',
    '5 ',
    '9'.repeat(400),
    'NaN',
    'Infinity',
    'person',
    'true',
    awkwardText(random, 3),
  ])
}

function queryOf(random: Random, operation: Operation, targets: Targets): string {
  const parts: string[] = []
  for (const parameter of operation.query) {
    if (!random.chance(parameter.required ? 0.9 : 0.5)) continue
    const value = queryValue(random, parameter.schema, parameter.name, targets)
    parts.push(`${parameter.name}=${random.chance(0.9) ? percentEncoded(value) : value}`)
    // The same key twice: an array where a value is expected.
    if (random.chance(0.03)) parts.push(`${parameter.name}=${percentEncoded(value)}`)
  }
  if (random.chance(0.05)) parts.push(`${percentEncoded(awkwardText(random, 2))}=1`)
  if (random.chance(0.03)) parts.push(random.pick(['%zz', '&&', '=', 'a=b=c', '__proto__=1']))
  return parts.length === 0 ? '' : `?${parts.join('&')}`
}

interface Guarded {
  headers: Record<string, string>
  admitted: boolean
}

/** Host, Origin and the token: right most of the time, wrong in one of several ways. */
function guardHeaders(random: Random, port: number, token: string, isPublic: boolean): Guarded {
  const headers: Record<string, string> = {}
  let admitted = true
  if (random.chance(0.95)) {
    headers.host = `${random.pick(['127.0.0.1', 'localhost', '[::1]'])}:${port}`
  } else {
    admitted = false
    const bad = ['evil.example', `evil.example:${port}`, '127.0.0.1', `127.0.0.1:${port + 1}`, '']
    headers.host = random.pick(bad)
  }
  if (random.chance(0.05)) {
    const good = random.chance(0.5)
    headers.origin = good
      ? `http://127.0.0.1:${port}`
      : random.pick(['https://evil.example', 'null'])
    if (!good) admitted = false
  }
  if (random.chance(0.85)) {
    headers.authorization = `Bearer ${token}`
  } else {
    const bad = ['', 'Bearer', 'Bearer ', `bearer ${token}`, `Bearer ${token}x`, `Basic ${token}`]
    const value = random.pick([...bad, `Bearer ${token.slice(1)}`, `Bearer  ${token}`])
    if (value !== '' || random.chance(0.5)) headers.authorization = value
    if (!isPublic) admitted = false
  }
  return { headers, admitted }
}

/** The body of one request to `operation`, and its content type. */
function bodyOf(
  random: Random,
  operation: Operation,
  context: BodyContext,
): Pick<FuzzRequest, 'payload' | 'json'> & { contentType?: string } {
  const body = operation.body
  if (body !== undefined && 'raw' in body) {
    const bytes = randomBytesOf(random, random.chance(0.9) ? random.int(2000) : random.int(80_000))
    return {
      payload: bytes,
      contentType: random.chance(0.85) ? body.raw : random.pick(OTHER_CONTENT_TYPES),
    }
  }
  if (body === undefined && random.chance(0.8)) return { payload: undefined }
  const valid =
    body === undefined
      ? { [plainText(random)]: jsonValue(random, 2) }
      : validObject(random, body.json, context)
  const broken = random.chance(0.4)
  const text = broken ? brokenBody(random, structuredClone(valid)) : JSON.stringify(valid)
  const roll = random.int(20)
  if (roll === 0) return { payload: undefined }
  if (roll === 1) return { payload: text, contentType: random.pick(OTHER_CONTENT_TYPES) }
  if (roll === 2) return { payload: text }
  let parsed: { value: unknown } | undefined
  try {
    // A leading byte order mark is skipped, as RFC 8259 lets parsers do (fastify does).
    parsed = { value: JSON.parse(text.replace(/^\ufeff/, '')) }
  } catch {
    parsed = undefined
  }
  // JSON under its media type, with or without parameters (which fastify does not read).
  return {
    payload: text,
    contentType: random.pick(['application/json', 'application/json; charset=utf-8']),
    ...(parsed === undefined ? {} : { json: parsed }),
  }
}

/** A random request to `operation`. */
export function randomRequest(
  random: Random,
  operation: Operation,
  targets: Targets,
  api: { port: number; token: string },
): FuzzRequest {
  let path = operation.path
  let subject: string | undefined
  for (const name of operation.pathParameters) {
    const value = pathValue(random, name, targets, operation.path)
    if (name === 'id') subject = value
    path = path.replace(`{${name}}`, value)
  }
  const url = path + queryOf(random, operation, targets)
  const { headers, admitted } = guardHeaders(random, api.port, api.token, operation.public)
  const context = { targets, patch: operation.method === 'PATCH', subject }
  const { contentType, ...body } = bodyOf(random, operation, context)
  if (contentType !== undefined) headers['content-type'] = contentType
  if (random.chance(0.03))
    headers[random.pick(['x-forwarded-host', 'accept', 'content-encoding'])] = random.pick([
      'gzip',
      'evil.example',
      '*/*',
      'br',
    ])
  return { method: operation.method, url, headers, ...body, admitted }
}
