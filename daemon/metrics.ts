// GET /metrics: the instance in Prometheus text format (prom-client). Figures that the
// parts keep anyway (object counts, the feed sequence, per-peer state, traffic and file
// transfers) are read when scraped; sync durations are observed as sessions catch up.
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CollectFunction,
} from 'prom-client'
import { OBJECT_TYPES, type InstanceId } from '../src/model/index.ts'
import type { ChannelTraffic } from '../src/net/index.ts'
import type { ObjectStore } from '../src/store/index.ts'
import type { SessionProgress, SyncEngine } from '../src/sync/index.ts'
import type { Instance } from './instance.ts'

export interface InstanceMetrics {
  contentType: string
  /** The instance's metrics and the process's, in Prometheus text format. */
  text(): Promise<string>
  stop(): void
}

let processRegistry: Registry | undefined

/**
 * Memory, CPU, event loop and handles: the process's, collected once however many
 * instances run in it (prom-client's collectors can't be stopped).
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry, prefix: 'objectsync_' })
  }
  return processRegistry
}

export function createMetrics(instance: Instance, clock: () => number = Date.now): InstanceMetrics {
  const registry = new Registry()
  const nameOf = (peer: InstanceId) => instance.registry.get(peer)?.name ?? ''
  addStoreGauges(registry, instance.store)
  addPeerStateGauges(registry, instance, clock)
  addTrafficCounters(registry, instance, nameOf)
  addFileTransferMetrics(registry, instance)
  addLocalSystemGauges(registry, instance)
  const stopObserving = observeSyncDurations(registry, instance.engine, nameOf, clock)
  return {
    contentType: registry.contentType,
    async text() {
      return (await registry.metrics()) + (await processMetrics().metrics())
    },
    stop: stopObserving,
  }
}

/** Whether the local system answers, and the tries that failed. */
function addLocalSystemGauges(registry: Registry, instance: Instance): void {
  new Gauge({
    name: 'objectsync_local_system_up',
    help: 'Whether the local system (a PostgreSQL server, a SQLite file) answered the last time it was asked: 1 or 0',
    registers: [registry],
    collect() {
      this.set(instance.local.localSystem().up ? 1 : 0)
    },
  })
  new Gauge({
    name: 'objectsync_local_system_behind',
    help: 'Changes of the store not yet written into the local system (0: caught up)',
    registers: [registry],
    collect() {
      this.set(instance.local.localSystem().behind ?? 0)
    },
  })
  new Counter({
    name: 'objectsync_local_system_failures_total',
    help: 'Polls of the local system (reading its changes) that failed because it did not answer',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(instance.local.localSystem().totalFailures)
    },
  })
}

/** What the store holds (objects by type, the feed's latest sequence number) and history reads. */
function addStoreGauges(registry: Registry, store: ObjectStore): void {
  new Gauge({
    name: 'objectsync_objects',
    help: 'Objects in the store by type, deleted ones included (tombstones)',
    labelNames: ['type'],
    registers: [registry],
    async collect() {
      const counts = await Promise.all(OBJECT_TYPES.map((type) => store.count(type)))
      OBJECT_TYPES.forEach((type, index) => this.set({ type }, counts[index]!))
    },
  })
  new Gauge({
    name: 'objectsync_feed_sequence',
    help: 'Sequence number of the latest change in the feed',
    registers: [registry],
    collect() {
      this.set(store.lastSeq)
    },
  })
  new Counter({
    name: 'objectsync_history_reads_total',
    help: "Records' histories read (GET /v1/objects/:id/history, objectsync history) since start",
    registers: [registry],
    collect() {
      this.reset()
      this.inc(store.historyReads)
    },
  })
}

/** Per-peer state, read from the engine at each scrape; peers unpaired since are dropped. */
function addPeerStateGauges(
  registry: Registry,
  { engine, registry: peers, transport }: Instance,
  clock: () => number,
): void {
  const perPeer = (
    name: string,
    help: string,
    value: (peer: InstanceId, now: number) => number,
  ): void => {
    const collect: CollectFunction<Gauge<'peer' | 'name'>> = function () {
      this.reset()
      const now = clock()
      for (const peer of peers.list())
        this.set({ peer: peer.id, name: peer.name }, value(peer.id, now))
    }
    new Gauge({ name, help, labelNames: ['peer', 'name'], registers: [registry], collect })
  }
  perPeer('objectsync_peer_connected', '1 while a sync session with the peer is open', (peer) =>
    engine.state(peer).connected ? 1 : 0,
  )
  perPeer(
    'objectsync_peer_relayed',
    '1 while connected to the peer only through a relay, 0 while directly, NaN while not connected',
    (peer) => {
      const path = transport.connectionPath?.(peer)
      return path === undefined ? NaN : path.path === 'relay' ? 1 : 0
    },
  )
  perPeer(
    'objectsync_relay_reserved',
    '1 while this instance holds a reservation at the peer as its relay, 0 while not; NaN for a peer not used as a relay',
    (peer) =>
      peers.get(peer)?.relay !== true
        ? NaN
        : (transport.reservedRelays?.().includes(peer) ?? false)
          ? 1
          : 0,
  )
  perPeer(
    'objectsync_peer_pending_out',
    'Changes of ours the peer has not been sent yet (an upper bound)',
    (peer) => engine.state(peer).pendingOut,
  )
  perPeer(
    'objectsync_peer_pending_in',
    "The peer's changes not received yet, as of its last plan",
    (peer) => engine.state(peer).pendingIn,
  )
  perPeer(
    'objectsync_peer_lag_seconds',
    'Seconds since the last sync with the peer; 0 while connected with nothing pending; NaN if never synced',
    (peer, now) => {
      const state = engine.state(peer)
      if (state.connected && state.pendingIn === 0 && state.pendingOut === 0) return 0
      return state.lastSyncAt === undefined ? NaN : (now - Date.parse(state.lastSyncAt)) / 1000
    },
  )
}

/** Traffic counters: totals the peer link keeps, set at each scrape; and refused frames. */
function addTrafficCounters(
  registry: Registry,
  instance: Instance,
  nameOf: (peer: InstanceId) => string,
): void {
  const traffic = (name: string, help: string, pick: (total: ChannelTraffic) => number): void => {
    const collect: CollectFunction<Counter<'peer' | 'name'>> = function () {
      this.reset()
      for (const [peer, total] of instance.links.traffic()) {
        this.inc({ peer, name: nameOf(peer) }, pick(total))
      }
    }
    new Counter({ name, help, labelNames: ['peer', 'name'], registers: [registry], collect })
  }
  traffic('objectsync_frames_sent_total', 'Sealed frames sent to the peer', (t) => t.framesSent)
  traffic(
    'objectsync_frames_received_total',
    'Sealed frames received from the peer',
    (t) => t.framesReceived,
  )
  traffic(
    'objectsync_bytes_sent_total',
    'Bytes of sealed frames sent to the peer',
    (t) => t.bytesSent,
  )
  traffic(
    'objectsync_bytes_received_total',
    'Bytes of sealed frames received from the peer',
    (t) => t.bytesReceived,
  )
  new Counter({
    name: 'objectsync_facets_refused_total',
    help: 'Facets from the peer refused (invalid, or out of what is shared with it) since start',
    labelNames: ['peer', 'name'],
    registers: [registry],
    collect() {
      this.reset()
      for (const { peer, refused } of instance.engine.states()) {
        this.inc({ peer, name: nameOf(peer) }, refused)
      }
    },
  })
  new Counter({
    name: 'objectsync_frames_refused_total',
    help: 'Frames refused (the stream was closed), by peer and reason',
    labelNames: ['peer', 'reason'],
    registers: [registry],
    collect() {
      this.reset()
      for (const { peer, reason, count } of instance.refusedFrames())
        this.inc({ peer, reason }, count)
    },
  })
}

/** File transfers per paired peer: what the engine's ledger says at each scrape. */
function addFileTransferMetrics(registry: Registry, { engine, registry: peers }: Instance): void {
  const each = (read: (labels: { peer: InstanceId; name: string }, peer: InstanceId) => void) => {
    for (const peer of peers.list()) read({ peer: peer.id, name: peer.name }, peer.id)
  }
  new Counter({
    name: 'objectsync_file_transfer_bytes_total',
    help: 'File content bytes received from (in) and sent to (out) the peer since start',
    labelNames: ['peer', 'name', 'direction'],
    registers: [registry],
    collect() {
      this.reset()
      each((labels, peer) => {
        const { bytesIn, bytesOut } = engine.fileTransfers.of(peer)
        this.inc({ ...labels, direction: 'in' }, bytesIn)
        this.inc({ ...labels, direction: 'out' }, bytesOut)
      })
    },
  })
  new Gauge({
    name: 'objectsync_file_transfers_active',
    help: 'File transfers with the peer under way, both directions',
    labelNames: ['peer', 'name'],
    registers: [registry],
    collect() {
      this.reset()
      each((labels, peer) => this.set(labels, engine.fileTransfers.of(peer).active.length))
    },
  })
  new Counter({
    name: 'objectsync_file_transfers_failed_total',
    help: 'File transfers with the peer that ended without the whole content (refused, timed out, damaged or cut off) since start',
    labelNames: ['peer', 'name'],
    registers: [registry],
    collect() {
      this.reset()
      each((labels, peer) => this.inc(labels, engine.fileTransfers.of(peer).failed))
    },
  })
}

/**
 * Sync durations, from a session opening to its first catch-up, observed as the engine
 * reports them. Returns the stop (unsubscribes from the engine).
 */
function observeSyncDurations(
  registry: Registry,
  engine: SyncEngine,
  nameOf: (peer: InstanceId) => string,
  clock: () => number,
): () => void {
  const durations = new Histogram({
    name: 'objectsync_sync_duration_seconds',
    help: 'From a session opening to having everything the peer had (first sync or catch-up)',
    labelNames: ['peer', 'name'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [registry],
  })
  // The engine says `peer` with connected: true as each session opens.
  const catchingUp = new Map<InstanceId, number>()
  const onPeer = (state: { peer: InstanceId; connected: boolean }) => {
    if (state.connected) catchingUp.set(state.peer, clock())
    else catchingUp.delete(state.peer)
  }
  const onProgress = (peer: InstanceId, progress: SessionProgress) => {
    const started = catchingUp.get(peer)
    if (!progress.caughtUp || started === undefined) return
    durations.observe({ peer, name: nameOf(peer) }, (clock() - started) / 1000)
    // Once per session: what the session does after catching up is live traffic.
    catchingUp.delete(peer)
  }
  const stops = [engine.on('peer', onPeer), engine.on('progress', onProgress)]
  return () => {
    for (const stop of stops) stop()
  }
}
