// DIR/config.json: the instance's settings (INTERFACE.md). Read once at start; a setting
// that can't be used stops start-up with INVALID_CONFIG naming the file, the field and
// what was expected.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { ObjectSyncError } from '../src/errors.ts'
import {
  folderMapping,
  housekeepingFromConfig,
  mappingFromConfig,
  urlHasPassword,
  type EntityMapping,
} from '../src/local/index.ts'
import type { ObjectType } from '../src/model/index.ts'
import { DEFAULT_MAX_BLOB_BYTES, DEFAULT_RECEIVING_FILES_PER_PEER } from '../src/store/index.ts'

export const CONFIG_FILE = 'config.json'
export const DEFAULT_LISTEN = '/ip4/0.0.0.0/tcp/7400'
export const DEFAULT_API_PORT = 7420

const port = z
  .number('expected a port number')
  .int('expected a whole port number')
  .min(0, 'expected a port from 0 (any free one) to 65535')
  .max(65535, 'expected a port from 0 (any free one) to 65535')

const configSchema = z.strictObject({
  name: z.string('expected the instance name').min(1, 'expected the instance name'),
  listen: z
    .array(z.string('expected a multiaddr, e.g. "/ip4/0.0.0.0/tcp/7400"'), 'expected a list')
    .default([DEFAULT_LISTEN]),
  api: z.strictObject({ port: port.default(DEFAULT_API_PORT) }).default({ port: DEFAULT_API_PORT }),
  relay: z
    .strictObject({ serve: z.boolean('expected true or false').default(false) })
    .default({ serve: false }),
  local: z
    .preprocess(
      // A local system without a kind is the embedded SQLite file.
      (value) =>
        typeof value === 'object' && value !== null && !('kind' in value)
          ? { ...value, kind: 'sqlite' }
          : value,
      z.discriminatedUnion(
        'kind',
        [
          z.strictObject({
            kind: z.literal('sqlite'),
            path: z.string('expected the path of the SQLite file').min(1).default('local.db'),
            entities: z.unknown().optional(),
          }),
          z.strictObject({
            kind: z.literal('postgres'),
            url: z
              .string('expected a PostgreSQL URL, postgres://USER@HOST:PORT/DATABASE')
              .regex(
                /^postgres(ql)?:\/\//,
                'expected a PostgreSQL URL, postgres://USER@HOST:PORT/DATABASE',
              )
              .refine(
                (url) => !urlHasPassword(url),
                'expected no password in the URL: give it in PGPASSWORD or ~/.pgpass',
              ),
            entities: z.unknown().optional(),
          }),
          z.strictObject({
            kind: z.literal('folder'),
            path: z.string('expected the path of the folder of contact files').min(1),
            format: z.enum(['vcard', 'google-csv'], {
              error: 'expected format "vcard" or "google-csv"',
            }),
          }),
        ],
        { error: 'expected kind "sqlite", "postgres" or "folder"' },
      ),
    )
    .default({ kind: 'sqlite', path: 'local.db' }),
  customFieldGroups: z
    .record(z.string(), z.array(z.string(), 'expected a list of custom field names'))
    .optional(),
  housekeeping: z.union([z.string(), z.number()]).optional(),
  files: z
    .strictObject({
      maxBytes: z
        .number('expected the largest file in bytes')
        .int('expected a whole number of bytes')
        .min(1, 'expected at least 1 byte')
        .max(2 ** 40, 'expected at most 1 TiB')
        .default(DEFAULT_MAX_BLOB_BYTES),
      receivingBytesPerPeer: z
        .number('expected a number of bytes')
        .int('expected a whole number of bytes')
        .min(1, 'expected at least 1 byte')
        .max(2 ** 42, 'expected at most 4 TiB')
        .optional(),
    })
    .refine(
      (files) =>
        files.receivingBytesPerPeer === undefined || files.receivingBytesPerPeer >= files.maxBytes,
      {
        message: 'expected receivingBytesPerPeer of at least maxBytes',
        path: ['receivingBytesPerPeer'],
      },
    )
    .default({ maxBytes: DEFAULT_MAX_BLOB_BYTES }),
})

/** The local system: the embedded SQLite file, or a PostgreSQL database. */
export type LocalSystemConfig =
  | { kind: 'sqlite'; path: string; mapping: Map<ObjectType, EntityMapping> }
  | { kind: 'postgres'; url: string; mapping: Map<ObjectType, EntityMapping> }
  | {
      kind: 'folder'
      path: string
      format: 'vcard' | 'google-csv'
      /** Persons and organizations, as the folder holds them (the default schema's). */
      mapping: Map<ObjectType, EntityMapping>
    }

export interface InstanceConfig {
  name: string
  listen: string[]
  api: { port: number }
  /** serve: relay connections between this instance's paired peers (circuit relay v2). */
  relay: { serve: boolean }
  local: LocalSystemConfig
  customFieldGroups: Record<string, string[]> | undefined
  housekeepingMs: number | undefined
  /**
   * Files larger than maxBytes are refused where they are added and from peers; what one
   * peer sends unverified is kept within receivingBytesPerPeer (default 4 × maxBytes).
   */
  files: { maxBytes: number; receivingBytesPerPeer: number }
}

/** Reads and checks DIR/config.json. */
export async function loadConfig(dir: string): Promise<InstanceConfig> {
  const file = join(dir, CONFIG_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ObjectSyncError(
        'INVALID_CONFIG',
        `${file}: no such file; run \`objectsync init --dir ${dir}\` first`,
        { details: { file } },
      )
    }
    throw error
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new ObjectSyncError('INVALID_CONFIG', `${file}: not JSON: ${(error as Error).message}`, {
      details: { file },
    })
  }
  return parseConfig(json, file)
}

export function parseConfig(json: unknown, file = CONFIG_FILE): InstanceConfig {
  const parsed = configSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const path = issue.path.map(String).join('.') || '(the file)'
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown setting ${issue.keys.map((key) => `"${key}"`).join(', ')}`
        : issue.message
    throw new ObjectSyncError('INVALID_CONFIG', `${file}: ${path}: ${message}`, {
      details: { file, path },
    })
  }
  const config = parsed.data
  config.listen.forEach((address, index) => {
    try {
      multiaddr(address)
    } catch {
      throw new ObjectSyncError(
        'INVALID_CONFIG',
        `${file}: listen.${index}: expected a multiaddr, e.g. "/ip4/0.0.0.0/tcp/7400"; got ${JSON.stringify(address)}`,
        { details: { file, path: `listen.${index}` } },
      )
    }
  })
  return {
    name: config.name,
    listen: config.listen,
    api: config.api,
    relay: config.relay,
    local: localSystemFromConfig(config.local, file),
    customFieldGroups: config.customFieldGroups,
    housekeepingMs: housekeepingFromConfig(config.housekeeping, file, 'housekeeping'),
    files: {
      maxBytes: config.files.maxBytes,
      receivingBytesPerPeer:
        config.files.receivingBytesPerPeer ??
        DEFAULT_RECEIVING_FILES_PER_PEER * config.files.maxBytes,
    },
  }
}

function localSystemFromConfig(
  local: z.infer<typeof configSchema>['local'],
  file: string,
): LocalSystemConfig {
  if (local.kind === 'folder') {
    return { kind: 'folder', path: local.path, format: local.format, mapping: folderMapping() }
  }
  const mapping = mappingFromConfig(local.entities, file, 'local.entities')
  return local.kind === 'postgres'
    ? { kind: 'postgres', url: local.url, mapping }
    : { kind: 'sqlite', path: local.path, mapping }
}
