// The two stores of an instance, opened in order: the object store (LevelDB in DIR/store)
// and the local system (SQLite) that reads from and writes to it.
import { resolve, join } from 'node:path'
import {
  LocalSync,
  FOLDER_POLL_MS,
  FolderConnector,
  GOOGLE_CSV_FORMAT,
  POSTGRES_POLL_MS,
  PostgresConnector,
  SqliteConnector,
  VCARD_FORMAT,
  type LocalPeerSettings,
} from '../../src/local/index.ts'
import type { Logger } from '../../src/log.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { LevelStorage, ObjectStore, type IdentityKey } from '../../src/store/index.ts'
import type { InstanceConfig } from '../config.ts'

export interface StorageParts {
  dir: string
  config: InstanceConfig
  instanceId: InstanceId
  log: Logger
}

export async function openObjectStore(
  parts: StorageParts,
  sourcesOfTruth: Record<string, InstanceId>,
  /** The identity's key: every change made here is signed with it. */
  identityKey: IdentityKey,
): Promise<ObjectStore> {
  const { dir, config } = parts
  const store = new ObjectStore({
    storage: new LevelStorage(join(dir, 'store')),
    instanceId: parts.instanceId,
    identityKey,
    logger: parts.log,
    sourcesOfTruth,
    blobs: config.files,
    ...(config.customFieldGroups === undefined
      ? {}
      : { customFieldGroups: config.customFieldGroups }),
  })
  await store.open()
  return store
}

export async function openLocalSystem(
  parts: StorageParts & {
    store: ObjectStore
    peers: ReadonlyMap<InstanceId, LocalPeerSettings>
    onIngestProgress: ((table: string, rows: number, done: boolean) => void) | undefined
  },
): Promise<LocalSync> {
  const { dir, config } = parts
  const postgres = config.local.kind === 'postgres'
  const local = new LocalSync({
    store: parts.store,
    connector:
      config.local.kind === 'postgres'
        ? new PostgresConnector(config.local.url)
        : config.local.kind === 'folder'
          ? new FolderConnector(
              resolve(dir, config.local.path),
              config.local.format === 'google-csv' ? GOOGLE_CSV_FORMAT : VCARD_FORMAT,
            )
          : new SqliteConnector(resolve(dir, config.local.path)),
    // PostgreSQL wakes the daemon at each commit (NOTIFY), a folder's watcher at each file
    // changed; their polls are the fallback, and each reads a server others use, or every
    // file's time.
    ...(postgres ? { pollMs: POSTGRES_POLL_MS } : {}),
    ...(config.local.kind === 'folder' ? { pollMs: FOLDER_POLL_MS } : {}),
    mapping: config.local.mapping,
    instanceId: parts.instanceId,
    logger: parts.log,
    peers: parts.peers,
    ...(config.housekeepingMs === undefined ? {} : { housekeepingMs: config.housekeepingMs }),
  })
  if (parts.onIngestProgress !== undefined) local.on('ingest-progress', parts.onIngestProgress)
  // Opened before any session starts: `groups` rules read its group membership.
  await local.open()
  return local
}
