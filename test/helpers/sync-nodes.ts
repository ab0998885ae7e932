import { generatePairKey } from '../../src/crypto/index.ts'
import type { Logger } from '../../src/log.ts'
import type { InstanceId, ObjectId } from '../../src/model/index.ts'
import {
  MemoryNetwork,
  PeerLinks,
  PeerRegistry,
  createIdentity,
  createLibp2pTransport,
  type Identity,
  memoryFiles,
  type ProtocolVersions,
  type Transport,
} from '../../src/net/index.ts'
import {
  MemoryStorage,
  ObjectStore,
  type BlobStoreOptions,
  type StorageAdapter,
} from '../../src/store/index.ts'
import { SyncEngine, type PeerScope } from '../../src/sync/index.ts'

export interface SyncNode {
  id: InstanceId
  identity: Identity
  name: string
  store: ObjectStore
  storage: StorageAdapter
  registry: PeerRegistry
  links: PeerLinks
  transport: Transport
  engine: SyncEngine
  stop(): Promise<void>
}

export const network = new MemoryNetwork()

export interface SyncNodeOptions {
  scopeOf?: (peer: InstanceId) => PeerScope
  customFieldGroups?: Record<string, string[]>
  batchBytes?: number
  heartbeatMs?: number
  /** How long a sync channel waits for the peer's hello (a lost one is given up on then). */
  helloTimeoutMs?: number
  /** Wraps the node's memory transport (e.g. in a faulty one). */
  wrapTransport?: (transport: Transport) => Transport
  /** Real libp2p over loopback TCP instead of the memory network. */
  libp2p?: boolean
  /** The file content limit and chunk size. */
  blobs?: BlobStoreOptions
  /** The storage to use instead of a new in-memory one (e.g. one that misbehaves). */
  storage?: StorageAdapter
  blobRetryMs?: number
  /** The store's wall clock for write stamps. */
  clock?: () => number
  logger?: Logger
  /** The sync protocol versions the node offers. */
  versions?: ProtocolVersions
}

/** A whole instance minus the local system: store, peer link and sync engine, in memory. */
export async function syncNode(
  name: string,
  reuse?: { identity: Identity; storage: StorageAdapter; registry: PeerRegistry },
  options: SyncNodeOptions = {},
): Promise<SyncNode> {
  const identity = reuse?.identity ?? (await createIdentity())
  const id = identity.id
  const storage = reuse?.storage ?? options.storage ?? new MemoryStorage()
  const store = new ObjectStore({
    storage,
    instanceId: id,
    identityKey: identity.privateKey,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.blobs === undefined ? {} : { blobs: options.blobs }),
    ...(options.customFieldGroups === undefined
      ? {}
      : { customFieldGroups: options.customFieldGroups }),
  })
  await store.open()
  const registry = reuse?.registry ?? new PeerRegistry(memoryFiles())
  // The engine needs the links and the links hand channels to the engine.
  const late: { engine?: SyncEngine } = {}
  const links = new PeerLinks({
    registry,
    name,
    onChannel: (channel) => late.engine?.accept(channel),
    onOpenRefused: (peer, error) => late.engine?.noteRefusal(peer, error.message),
    ...(options.versions === undefined ? {} : { versions: options.versions }),
    ...(options.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: options.helloTimeoutMs }),
  })
  const base = options.libp2p
    ? await createLibp2pTransport({
        privateKey: identity.privateKey,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        gate: links.admits,
      })
    : network.transport(id, links.admits)
  const transport = options.wrapTransport?.(base) ?? base
  await transport.start()
  await links.start(transport)
  const engine = new SyncEngine({
    store,
    links,
    localId: id,
    backoff: { initialMs: 20, maxMs: 200 },
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.scopeOf === undefined ? {} : { scopeOf: options.scopeOf }),
    ...(options.batchBytes === undefined ? {} : { batchBytes: options.batchBytes }),
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    ...(options.blobRetryMs === undefined ? {} : { blobRetryMs: options.blobRetryMs }),
  })
  late.engine = engine
  const node: SyncNode = {
    id,
    identity,
    name,
    store,
    storage,
    registry,
    links,
    transport,
    engine,
    async stop() {
      engine.stop()
      links.stop()
      await transport.stop()
      await store.close()
    },
  }
  return node
}

/** Links of a connected topology over `count` nodes: a line, plus the extra edges given. */
export function topology(count: number, extra: [number, number][]): [number, number][] {
  const links: [number, number][] = []
  for (let i = 1; i < count; i++) links.push([i - 1, i])
  for (const [a, b] of extra) {
    const [x, y] = [a % count, b % count]
    if (x !== y && !links.some(([p, q]) => (p === x && q === y) || (p === y && q === x))) {
      links.push([x, y])
    }
  }
  return links
}

/** Pairs two nodes with a shared key, as keygen and peers.json would. */
export async function pairNodes(a: SyncNode, b: SyncNode): Promise<void> {
  const key = generatePairKey()
  await a.registry.add(
    { id: b.id, name: b.name, addresses: b.transport.addresses() },
    { current: key },
  )
  await b.registry.add(
    { id: a.id, name: a.name, addresses: a.transport.addresses() },
    { current: key },
  )
}

export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`not true within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Creates `count` persons named `<prefix><i>`, each with one custom field when asked. */
export async function createPeople(
  store: ObjectStore,
  count: number,
  prefix: string,
  options: { custom?: boolean } = {},
): Promise<ObjectId[]> {
  const created = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      store.create({
        type: 'person',
        fields: { firstName: `${prefix}${i}`, lastName: 'L' },
        ...(options.custom === true ? { custom: { n: i } } : {}),
      }),
    ),
  )
  return created.map((object) => object.id)
}

/** True when every store holds each of `ids`, and all hold it the same. */
export async function sameObjects(stores: ObjectStore[], ids: ObjectId[]): Promise<boolean> {
  for (const id of ids) {
    const seen = await Promise.all(stores.map((store) => store.get(id)))
    if (seen.some((object) => object === undefined)) return false
    if (new Set(seen.map((object) => JSON.stringify(object))).size !== 1) return false
  }
  return true
}
