// The shapes of every body and query the API takes, checked with zod; the same schemas
// describe them in /openapi.json. A failed check is INVALID_REQUEST naming the place
// (`body.type: expected one of person, …`).
import { z } from 'zod'
import { ObjectSyncError } from '../../src/errors.ts'
import { INVITE_LIFETIME_EXPECTED, isInviteLifetime } from '../../src/model/index.ts'
import { OBJECT_TYPES, isObjectId } from '../../src/model/index.ts'
import { MAX_HISTORY_LIMIT, MAX_SEARCH_LIMIT } from '../../src/store/index.ts'

const objectType = z.enum(OBJECT_TYPES, `expected one of ${OBJECT_TYPES.join(', ')}`)
const fieldValues = z.record(z.string(), z.unknown(), 'expected an object of fields')
// Its rules are checked as peers.json's are at start (src/sync/scope.ts), not here twice.
const share = z.record(
  z.string(),
  z.unknown(),
  `expected an object naming the shared types (${OBJECT_TYPES.join(', ')})`,
)

export const schemas = {
  listQuery: z
    .strictObject({
      type: objectType.optional(),
      q: z.string().optional(),
      limit: z.coerce.number().int().min(1).max(1000).optional(),
      after: z.string().optional(),
    })
    .refine((query) => query.type !== undefined || query.q !== undefined, {
      message: 'expected a type, or q to search every type',
      path: ['type'],
    })
    .refine((query) => query.q === undefined || (query.limit ?? 0) <= MAX_SEARCH_LIMIT, {
      message: `expected at most ${MAX_SEARCH_LIMIT} with q`,
      path: ['limit'],
    }),
  historyQuery: z.strictObject({
    limit: z.coerce.number().int().min(1).max(MAX_HISTORY_LIMIT).optional(),
    before: z.string().min(1).optional(),
  }),
  changesQuery: z.strictObject({ since: z.coerce.number().int().min(0).default(0) }),
  create: z.strictObject({ type: objectType, fields: fieldValues, custom: fieldValues.optional() }),
  patch: z.strictObject({ fields: fieldValues.optional(), custom: fieldValues.optional() }),
  resolve: z.strictObject({
    field: z.string().min(1),
    by: z.string().min(1),
    at: z.number().int(),
  }),
  merge: z.strictObject({
    with: z.string().refine(isObjectId, 'expected an object id'),
  }),
  link: z.strictObject({ key: z.string().min(1, 'expected the local record key') }),
  mergesQuery: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).optional() }),
  planQuery: z.strictObject({ limit: z.coerce.number().int().min(1).max(10_000).optional() }),
  invite: z.strictObject({
    expires: z.string().refine(isInviteLifetime, INVITE_LIFETIME_EXPECTED).optional(),
  }),
  blobQuery: z.strictObject({
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256)')
      .optional(),
  }),
  peerPatch: z
    .strictObject({
      name: z.string().min(1, 'expected a name').max(200).optional(),
      paused: z.boolean('expected true or false').optional(),
      share: share.optional(),
    })
    .refine((body) => Object.keys(body).length > 0, {
      message: 'expected at least one of name, paused, share',
    }),
  sharePreview: z.strictObject({ share }),
  pair: z.strictObject({
    token: z.string().min(1, 'expected the invite token'),
    name: z.string().min(1).max(200).optional(),
  }),
}

/** `value` checked against `schema`, or INVALID_REQUEST naming where it failed. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const parsed = schema.safeParse(value ?? {})
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const path = [where, ...issue.path.map(String)].join('.')
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown ${issue.keys.map((key) => `"${key}"`).join(', ')}`
      : issue.message
  throw new ObjectSyncError('INVALID_REQUEST', `${path}: ${message}`, { details: { path } })
}
