// An instance with its own SQLite local system: the sync node (store, link, engine) and
// the bridge to a SQLite file, plus a separate connection playing "another program".
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { onTestFinished } from 'vitest'
import {
  LocalSync,
  SqliteConnector,
  createLocalDatabase,
  mappingFromConfig,
  type Connector,
  type LocalPeerSettings,
} from '../../src/local/index.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { BlobStoreOptions, StoredObject } from '../../src/store/index.ts'
import { scopeFromShare } from '../../src/sync/index.ts'
import { syncNode, type SyncNode, type SyncNodeOptions } from './sync-nodes.ts'

export interface LocalNode {
  node: SyncNode
  /** The running bridge (a new one after `restart`). */
  local: LocalSync
  /** "Another program": a separate connection to the same SQLite file. */
  sql: Database.Database
  /** Stops the bridge and starts a new one on the same store and file. */
  restart: () => Promise<LocalSync>
  /** Another bridge on the same store and file, not started (the caller stops it). */
  fresh: () => LocalSync
  /** Sets what each peer's changes may do here (and its share's groups), and restarts. */
  configure: (peers: ReadonlyMap<InstanceId, LocalPeerSettings>) => Promise<LocalSync>
  /** Stops everything and removes the file now (else when the test finishes). */
  close: () => Promise<void>
}

/**
 * An instance with its own SQLite file, removed when the test finishes. `before` is SQL
 * run before the bridge starts (another table shape, rows the local system had before
 * the daemon); `pollMs` large means the test decides when the change log is read
 * (through `settled`); `share` is what every peer may see, its `groups` rules read from
 * this instance's local system.
 */
export async function localNode(
  name: string,
  options: {
    entities?: unknown
    before?: string
    pollMs?: number
    share?: unknown
    blobs?: BlobStoreOptions
    /** Wraps the SQLite connector (e.g. to act between the daemon's reads and writes). */
    wrapConnector?: (connector: Connector) => Connector
    /** Passed to the sync node (e.g. a faulty transport, a short heartbeat). */
    node?: Pick<SyncNodeOptions, 'wrapTransport' | 'heartbeatMs' | 'helloTimeoutMs' | 'storage'>
  } = {},
): Promise<LocalNode> {
  const folder = mkdtempSync(join(tmpdir(), `objectsync-sqlite-${name}-`))
  const path = join(folder, 'local.db')
  createLocalDatabase(path)
  const sql = new Database(path)
  sql.pragma('busy_timeout = 5000')
  if (options.before !== undefined) sql.exec(options.before)
  const holder: { local?: LocalSync } = {}
  const node = await syncNode(name, undefined, {
    ...options.node,
    ...(options.blobs === undefined ? {} : { blobs: options.blobs }),
    ...(options.share === undefined
      ? {}
      : {
          scopeOf: () =>
            scopeFromShare(options.share, 'test', (id) => holder.local?.groupsOf(id)).scope,
        }),
  })
  let peers: ReadonlyMap<InstanceId, LocalPeerSettings> = new Map()
  const fresh = () =>
    new LocalSync({
      store: node.store,
      connector: (options.wrapConnector ?? ((connector) => connector))(new SqliteConnector(path)),
      mapping: mappingFromConfig(options.entities),
      instanceId: node.id,
      pollMs: options.pollMs ?? 50,
      peers,
    })
  const start = async () => {
    const local = fresh()
    holder.local = local
    await local.start()
    return local
  }
  const result: LocalNode = {
    node,
    local: await start(),
    sql,
    fresh,
    restart: async () => {
      await result.local.stop()
      result.local = await start()
      return result.local
    },
    configure: (settings) => {
      peers = settings
      return result.restart()
    },
    close: () => Promise.resolve(),
  }
  let closed = false
  result.close = async () => {
    if (closed) return
    closed = true
    await result.local.stop()
    await node.stop()
    sql.close()
    rmSync(folder, { recursive: true, force: true })
  }
  onTestFinished(() => result.close())
  return result
}

export async function persons(node: SyncNode): Promise<StoredObject[]> {
  return (await node.store.list('person', { includeDeleted: true })).items
}
