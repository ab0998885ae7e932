// One running instance: the parts of src/ put together in dependency order — identity,
// peers, store, local system, peer link, sync engine — and taken apart in reverse.
import { resolve, join } from 'node:path'
import {
  DEFAULT_HOUSEKEEPING_MS,
  LocalSync,
  SqliteConnector,
  actionsFromConfig,
} from '../src/local/index.ts'
import type { LocalPeerSettings } from '../src/local/index.ts'
import type { Logger } from '../src/log.ts'
import { OBJECT_TYPES, type InstanceId, type ObjectType } from '../src/model/index.ts'
import {
  PeerLinks,
  PeerRegistry,
  createLibp2pTransport,
  directoryFiles,
  loadOrCreateIdentity,
  type PeerRecord,
  type RefusalReason,
  type Transport,
} from '../src/net/index.ts'
import { LevelStorage, ObjectStore } from '../src/store/index.ts'
import {
  SyncEngine,
  collectFileContents,
  scopeFromShare,
  sourcesOfTruth,
  type PeerScope,
} from '../src/sync/index.ts'
import type { InstanceConfig } from './config.ts'

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
  /** Frames refused since start, by peer and reason. */
  refusedFrames(): { peer: InstanceId; reason: RefusalReason; count: number }[]
  /** Stops everything in reverse order; the store is flushed and closed last. */
  stop(): Promise<void>
}

/** What one peer's entry in peers.json says beyond id, addresses and key. */
interface PeerSettings {
  share?: unknown
  actions?: unknown
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
  const identity = await loadOrCreateIdentity(join(dir, 'keys'))
  const registry = new PeerRegistry(directoryFiles(dir))
  await registry.load()
  const peers = registry.list()
  // Actions are checked before anything starts: a wrong one must stop start-up.
  const localPeers = new Map<InstanceId, LocalPeerSettings>(
    peers.map((peer, index) => [
      peer.id,
      {
        actions: actionsFromConfig(
          (peer as PeerSettings).actions,
          'peers.json',
          `peers[${index}].actions`,
        ),
        shareGroups: shareGroupsOf((peer as PeerSettings).share),
      },
    ]),
  )
  const truth = sourcesOfTruth(peers, identity.id)
  for (const warning of truth.warnings) log.warn({ file: 'peers.json' }, warning)

  const store = new ObjectStore({
    storage: new LevelStorage(join(dir, 'store')),
    instanceId: identity.id,
    logger: log,
    sourcesOfTruth: truth.sources,
    blobs: { maxBytes: config.files.maxBytes },
    ...(config.customFieldGroups === undefined
      ? {}
      : { customFieldGroups: config.customFieldGroups }),
  })
  await store.open()
  const stack: (() => Promise<void> | void)[] = [() => store.close()]
  const unwind = async () => {
    for (const stop of stack.splice(0).reverse()) await stop()
  }
  try {
    const local = new LocalSync({
      store,
      connector: new SqliteConnector(resolve(dir, config.local.path)),
      mapping: config.local.mapping,
      instanceId: identity.id,
      logger: log,
      peers: localPeers,
      ...(config.housekeepingMs === undefined ? {} : { housekeepingMs: config.housekeepingMs }),
    })
    if (hooks.onIngestProgress !== undefined) local.on('ingest-progress', hooks.onIngestProgress)
    // Opened before any session starts: `groups` rules read its group membership.
    await local.open()
    stack.push(() => local.stop())

    const late: { engine?: SyncEngine } = {}
    const refused = new Map<InstanceId, Map<RefusalReason, number>>()
    const links = new PeerLinks({
      registry,
      name: config.name,
      logger: log,
      onChannel: (channel) => late.engine?.accept(channel),
      // The inviting side keeps a session with its new peer too (and redials it after a loss).
      onPaired: (peer) => late.engine?.connect(peer.id),
      onRefused: (peer, reason) => {
        const reasons = refused.get(peer) ?? new Map<RefusalReason, number>()
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
        refused.set(peer, reasons)
      },
    })
    const transport = await createLibp2pTransport({
      privateKey: identity.privateKey,
      listen: config.listen,
      gate: links.admits,
      logger: log,
    })
    await transport.start()
    stack.push(() => transport.stop())
    await links.start(transport)
    stack.push(() => links.stop())

    const scopes = new Map<InstanceId, PeerScope>()
    const scopeOf = (peer: InstanceId): PeerScope => {
      const record = registry.get(peer)
      const index = registry.list().findIndex((each) => each.id === peer)
      const parsed = scopeFromShare(
        (record as (PeerRecord & PeerSettings) | undefined)?.share,
        `peers.json: peers[${index}]`,
        (id) => local.groupsOf(id),
      )
      // Said once per peer and scope, not at every session.
      if (scopes.get(peer)?.key !== parsed.scope.key) {
        for (const warning of parsed.warnings) log.warn({ peer }, warning)
        scopes.set(peer, parsed.scope)
      }
      return parsed.scope
    }
    const engine = new SyncEngine({ store, links, localId: identity.id, logger: log, scopeOf })
    late.engine = engine
    stack.push(() => engine.stop())

    await local.start()
    for (const peer of registry.list()) engine.connect(peer.id)
    // File contents nothing needs any more go at each housekeeping, with the local system's.
    const collectFiles = async () => {
      try {
        const collected = await collectFileContents(
          store,
          registry.list().map((peer) => peer.id),
        )
        log.info(
          {
            removed: collected.blobs.length,
            chunks: collected.chunks,
            waitingForPeers: collected.waitingForPeers,
          },
          'file contents collected',
        )
      } catch (error) {
        log.error({ err: error }, 'collecting file contents failed')
      }
    }
    const collector = setInterval(
      () => void collectFiles(),
      Math.min(config.housekeepingMs ?? DEFAULT_HOUSEKEEPING_MS, 2 ** 31 - 1),
    )
    collector.unref()
    stack.push(() => clearInterval(collector))
    log.info(
      { id: identity.id, name: config.name, addresses: transport.addresses(), peers: peers.length },
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
      refusedFrames: () =>
        [...refused].flatMap(([peer, reasons]) =>
          [...reasons].map(([reason, count]) => ({ peer, reason, count })),
        ),
      stop: unwind,
    }
  } catch (error) {
    await unwind()
    throw error
  }
}

/** The `groups` rule of each type in a peer's share (records in them are in its scope). */
function shareGroupsOf(share: unknown): Partial<Record<ObjectType, readonly string[]>> {
  const groups: Partial<Record<ObjectType, readonly string[]>> = {}
  if (typeof share !== 'object' || share === null) return groups
  for (const type of OBJECT_TYPES) {
    const rules = (share as Record<string, unknown>)[type]
    const named = (rules as { groups?: unknown } | undefined)?.groups
    if (Array.isArray(named) && named.every((group) => typeof group === 'string')) {
      groups[type] = named
    }
  }
  return groups
}
