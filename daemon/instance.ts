// One running instance: the parts of src/ put together in dependency order — identity,
// peers, store, local system, peer link, sync engine — and taken apart in reverse. The
// steps are in instance/; this is the one place that says their order.
import { join } from 'node:path'
import type { LocalSync } from '../src/local/index.ts'
import type { Logger } from '../src/log.ts'
import type { InstanceId } from '../src/model/index.ts'
import {
  loadOrCreateIdentity,
  type PeerLinks,
  type PeerRegistry,
  type RefusalReason,
  type Transport,
} from '../src/net/index.ts'
import type { ObjectStore } from '../src/store/index.ts'
import { SyncEngine, type PeerScope } from '../src/sync/index.ts'
import type { InstanceConfig } from './config.ts'
import { readableByOthers } from './init.ts'
import { startFileCollector } from './instance/file-collector.ts'
import { PeerEditor } from './instance/peer-editor.ts'
import { startPeerLink, type ChannelReceiver } from './instance/peer-link.ts'
import { peerScopes } from './instance/peer-scopes.ts'
import { loadPeers } from './instance/peer-settings.ts'
import { StopStack } from './instance/stop-stack.ts'
import { openLocalSystem, openObjectStore } from './instance/storage.ts'

export interface Instance {
  id: InstanceId
  name: string
  store: ObjectStore
  registry: PeerRegistry
  links: PeerLinks
  transport: Transport
  engine: SyncEngine
  local: LocalSync
  /** What the peer may see and send, from its `share` in peers.json. */
  scopeOf(peer: InstanceId): PeerScope
  /** Renames, pauses and resumes peers and changes their share while running. */
  peerEditor: PeerEditor
  /** Frames refused since start, by peer and reason. */
  refusedFrames(): { peer: InstanceId; reason: RefusalReason; count: number }[]
  /** Stops everything in reverse order; the store is flushed and closed last. */
  stop(): Promise<void>
}

/** What a caller may watch while the instance starts. */
export interface StartHooks {
  /** Rows read from the local system's tables (LocalSync's 'ingest-progress' events). */
  onIngestProgress?: (table: string, rows: number, done: boolean) => void
}

export async function startInstance(
  dir: string,
  config: InstanceConfig,
  log: Logger,
  hooks: StartHooks = {},
): Promise<Instance> {
  if (await readableByOthers(dir).catch(() => false)) {
    log.warn(
      { dir },
      'the data folder can be read by other users (its store, keys and local.db): chmod 700 it, or run objectsync init --force',
    )
  }
  const identity = await loadOrCreateIdentity(join(dir, 'keys'))
  // Actions are checked before anything starts: a wrong one must stop start-up.
  const peers = await loadPeers(dir, identity.id, log)
  const { registry } = peers
  const parts = { dir, config, instanceId: identity.id, log }
  const store = await openObjectStore(parts, peers.sourcesOfTruth, identity.privateKey)
  const stops = new StopStack()
  stops.push(() => store.close())
  try {
    const local = await openLocalSystem({
      ...parts,
      store,
      peers: peers.local,
      onIngestProgress: hooks.onIngestProgress,
    })
    stops.push(() => local.stop())

    // The link starts before the engine exists; it hands channels on once it does.
    const handTo: { receiver?: ChannelReceiver } = {}
    const { links, transport, refusedFrames } = await startPeerLink({
      identity,
      registry,
      config,
      log,
      stops,
      handTo,
    })
    const scopeOf = peerScopes({ registry, local, log })
    const engine = new SyncEngine({ store, links, localId: identity.id, logger: log, scopeOf })
    handTo.receiver = engine
    stops.push(() => engine.stop())

    await local.start()
    const peerEditor = new PeerEditor({
      registry,
      engine,
      store,
      local,
      settings: peers.local,
      scopeOf,
      log,
    })
    peerEditor.startSessions()
    stops.push(startFileCollector({ store, registry, housekeepingMs: config.housekeepingMs, log }))
    log.info(
      {
        id: identity.id,
        name: config.name,
        addresses: transport.addresses(),
        peers: peers.atStart.length,
      },
      'instance started',
    )
    return {
      id: identity.id,
      name: config.name,
      store,
      registry,
      links,
      transport,
      engine,
      local,
      scopeOf,
      peerEditor,
      refusedFrames,
      stop: () => stops.unwind(),
    }
  } catch (error) {
    await stops.unwind()
    throw error
  }
}
