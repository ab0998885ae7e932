// `objectsync init`: makes DIR an instance — identity key, API token, config, an empty
// peers file, an empty store and the local system (the embedded SQLite file, or the
// default schema's tables in a PostgreSQL database where absent). An existing instance
// is left alone unless `force`, which writes a new config and API token and keeps the
// identity, peers, store and local system.
import { randomBytes } from 'node:crypto'
import { access, chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ObjectSyncError } from '../src/errors.ts'
import { createLocalDatabase, createPostgresSchema, urlHasPassword } from '../src/local/index.ts'
import type { InstanceId } from '../src/model/index.ts'
import { PEERS_FILE, loadOrCreateIdentity } from '../src/net/index.ts'
import { LevelStorage, ObjectStore } from '../src/store/index.ts'
import { CONFIG_FILE, DEFAULT_API_PORT, parseConfig } from './config.ts'

import { API_TOKEN_FILE } from './data-files.ts'

export { API_TOKEN_FILE }
export const DEFAULT_PORT = 7400

export interface InitOptions {
  name?: string | undefined
  port?: number | undefined
  apiPort?: number | undefined
  force?: boolean | undefined
  /** Listen addresses instead of all interfaces on `port` (e.g. loopback only). */
  listen?: string[] | undefined
  /** The local system: the embedded SQLite file (default), a PostgreSQL database, or a folder of contact files. */
  local?: 'sqlite' | 'postgres' | 'folder' | undefined
  /** The PostgreSQL database's URL, without a password (default $OBJECTSYNC_LOCAL_URL). */
  localUrl?: string | undefined
  /** With `folder`: the folder (relative to the data folder, or absolute); made if absent. */
  localPath?: string | undefined
  /** With `folder`: the files' format (vcard, the default, or google-csv). */
  format?: string | undefined
}

/**
 * Makes the data folder readable by its owner only, if it is not (a folder that existed
 * before `init`, made with the usual 0755): the store, local.db and the keys in it are
 * then out of other local users' reach whatever modes their own files have.
 * Returns whether it changed the folder's mode. `init` does this; a daemon starting only
 * warns (a folder shared with another user on purpose, say for local.db, stays so).
 */
export async function makePrivate(dir: string): Promise<boolean> {
  if (!(await readableByOthers(dir))) return false
  await chmod(dir, 0o700)
  return true
}

/** Whether users other than the owner may enter the folder. */
export async function readableByOthers(dir: string): Promise<boolean> {
  return ((await stat(dir)).mode & 0o077) !== 0
}

/** Writes a file only its owner can read, an existing one included (writeFile keeps its mode). */
async function writePrivate(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 })
  await chmod(file, 0o600)
}

export async function initInstance(
  dir: string,
  options: InitOptions = {},
): Promise<{ id: InstanceId; dir: string; created: boolean }> {
  if ((await exists(join(dir, CONFIG_FILE))) && options.force !== true) {
    throw new ObjectSyncError(
      'INSTANCE_EXISTS',
      `${dir} already holds an instance (${CONFIG_FILE}); pass --force to write a new config and API token (identity, peers and data are kept)`,
    )
  }
  if (options.listen !== undefined && options.port !== undefined) {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      '--port and --listen: give the port in each --listen address instead',
    )
  }
  const local = (await keptLocalSystem(dir, options)) ?? localSystemOf(options)
  // The database first: when it can't be reached, nothing is written (a second try is
  // not refused as an existing instance, and --force keeps the old token).
  if (local.kind === 'postgres') await createPostgresSchema(local.url)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await makePrivate(dir)
  const identity = await loadOrCreateIdentity(join(dir, 'keys'))
  await writePrivate(join(dir, API_TOKEN_FILE), `${randomBytes(32).toString('base64url')}\n`)
  const config = {
    name: options.name ?? `objectsync-${identity.id.slice(-6)}`,
    listen: options.listen ?? [`/ip4/0.0.0.0/tcp/${options.port ?? DEFAULT_PORT}`],
    api: { port: options.apiPort ?? DEFAULT_API_PORT },
    local,
    housekeeping: '24h',
  }
  await writePrivate(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`)
  if (!(await exists(join(dir, PEERS_FILE)))) {
    await writeFile(join(dir, PEERS_FILE), `${JSON.stringify({ peers: [] }, null, 2)}\n`, {
      mode: 0o600,
    })
  }
  if (local.kind === 'sqlite') createLocalDatabase(join(dir, local.path))
  if (local.kind === 'folder') await mkdir(resolve(dir, local.path), { recursive: true })
  const store = new ObjectStore({
    storage: new LevelStorage(join(dir, 'store')),
    instanceId: identity.id,
  })
  await store.open()
  await store.close()
  return { id: identity.id, dir, created: true }
}

type LocalSystemSetting =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string }
  | { kind: 'folder'; path: string; format: 'vcard' | 'google-csv' }

/**
 * With --force and no --local: the local system the existing config.json names, kept
 * (a PostgreSQL instance does not become a SQLite one by a new token).
 */
async function keptLocalSystem(
  dir: string,
  options: InitOptions,
): Promise<LocalSystemSetting | undefined> {
  if (
    options.force !== true ||
    options.local !== undefined ||
    options.localUrl !== undefined ||
    options.localPath !== undefined
  ) {
    return undefined
  }
  try {
    const { local } = parseConfig(
      JSON.parse(await readFile(join(dir, CONFIG_FILE), 'utf8')),
      join(dir, CONFIG_FILE),
    )
    if (local.kind === 'folder') return { kind: 'folder', path: local.path, format: local.format }
    return local.kind === 'postgres'
      ? { kind: 'postgres', url: local.url }
      : { kind: 'sqlite', path: local.path }
  } catch {
    return undefined // no config, or one that can't be read: the default, as before
  }
}

/** What config.json says of the local system, from the options; checked before anything is written. */
function localSystemOf(options: InitOptions): LocalSystemSetting {
  if (options.local === undefined && options.localUrl !== undefined) {
    throw new ObjectSyncError('INVALID_CONFIG', '--local-url goes with --local postgres')
  }
  if (options.local !== 'folder' && (options.localPath ?? options.format) !== undefined) {
    throw new ObjectSyncError('INVALID_CONFIG', '--local-path and --format go with --local folder')
  }
  if (options.local === undefined || options.local === 'sqlite') {
    return { kind: 'sqlite', path: 'local.db' }
  }
  if (options.local === 'folder') return folderOf(options)
  if (options.local !== 'postgres') {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `--local: expected "sqlite", "postgres" or "folder", got ${JSON.stringify(options.local)}`,
    )
  }
  const url = options.localUrl ?? process.env.OBJECTSYNC_LOCAL_URL
  if (url === undefined || url === '') {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      '--local postgres needs the database: --local-url postgres://USER@HOST:PORT/DATABASE (or OBJECTSYNC_LOCAL_URL)',
    )
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      '--local-url: expected a PostgreSQL URL, postgres://USER@HOST:PORT/DATABASE',
    )
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `--local-url: expected a postgres:// URL, got one for ${parsed.protocol}`,
    )
  }
  if (urlHasPassword(url)) {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      '--local-url: leave the password out of the URL (it would be written into config.json); give it in PGPASSWORD or ~/.pgpass',
    )
  }
  return { kind: 'postgres', url }
}

function folderOf(options: InitOptions): LocalSystemSetting {
  if (options.localUrl !== undefined) {
    throw new ObjectSyncError('INVALID_CONFIG', '--local-url goes with --local postgres')
  }
  if (options.localPath === undefined || options.localPath === '') {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      '--local folder needs the folder: --local-path DIR (and --format vcard or google-csv)',
    )
  }
  const format = options.format ?? 'vcard'
  if (format !== 'vcard' && format !== 'google-csv') {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `--format: expected "vcard" or "google-csv", got ${JSON.stringify(options.format)}`,
    )
  }
  return { kind: 'folder', path: options.localPath, format }
}

export async function isInstance(dir: string): Promise<boolean> {
  return exists(join(dir, CONFIG_FILE))
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
