// What happens in a running instance, as the events of GET /v1/events (server-sent
// events) and the status page see them: `change` (feed entries committed), `peer` (a peer
// connected, disconnected, paired or unpaired), `conflict` (an object entered or left the
// conflict inbox), `match` (the same for the match review queue), `merge` (an object was
// merged or unmerged, here or by a peer) and `sync` (a session's catch-up progress).
import type { LocalSystemState } from '../src/local/index.ts'
import type { InstanceId, ObjectId } from '../src/model/index.ts'
import type { PeerRecord } from '../src/net/index.ts'
import type { FeedEntry } from '../src/store/index.ts'
import type { PeerTransfers, SessionProgress } from '../src/sync/index.ts'
import type { Logger } from '../src/log.ts'
import {
  TypedEvents,
  type EventMap,
  type Listener,
  type Subscribable,
} from '../src/typed-events.ts'
import type { Instance } from './instance.ts'
import type { PeerSettings } from './instance/peer-settings.ts'

/** Feed entries carried by one `change` event; a larger batch says `more` (read /v1/changes). */
export const CHANGES_PER_EVENT = 200
/** `sync` events per peer at most this often, but a session catching up is always told. */
export const SYNC_EVENT_INTERVAL_MS = 250

export interface PeerView {
  id: InstanceId
  name: string
  addresses: string[]
  /** Paused here (PATCH /v1/peers/:id, `"paused": true` in peers.json): no session either way. */
  paused: boolean
  /** Its share rules as in peers.json (what it may see and send); null when its entry has none. */
  share: Readonly<Record<string, unknown>> | null
  connected: boolean
  lastSyncAt: string | null
  pendingIn: number
  pendingOut: number
  progress: SessionProgress | null
  /** Why the last session broke off, until one catches up again. */
  lastError: string | null
  /** Facets from the peer refused since the daemon started (invalid or out of scope). */
  refused: number
  /** How it is connected now: directly, or through a relay (a paired peer); null when not. */
  connection: { path: 'direct' } | { path: 'relay'; relay: { id: InstanceId; name: string } } | null
  /** For a peer used as a relay ("relay": true in peers.json): whether this instance holds a reservation there. */
  relay: { reserved: boolean } | null
  /**
   * File contents moving with the peer. `active`: the transfers under way, each
   * `{ file, sha256, direction: 'in' | 'out', bytes, size }` (bytes moved in this
   * transfer; size null until known). `bytesIn`/`bytesOut`: content bytes received and
   * sent since the daemon started; `rateIn`/`rateOut`: bytes per second over the last 5
   * seconds; `failed`: transfers that ended without the whole content (see PeerTransfers).
   */
  transfers: PeerTransfers
}

export type DaemonEvent =
  | {
      event: 'change'
      data: {
        changes: ChangeView[]
        last: number
        /** More entries were committed than this event carries: read /v1/changes?since=. */
        more: boolean
      }
    }
  | { event: 'peer'; data: PeerView | { id: InstanceId; removed: true } }
  | { event: 'conflict'; data: { id: ObjectId } }
  | { event: 'match'; data: { id: ObjectId } }
  | { event: 'merge'; data: { id: ObjectId } }
  | { event: 'sync'; data: { peer: InstanceId } & SessionProgress }
  | { event: 'local'; data: LocalSystemView }

/** Whether the local system answers, as the API shows it. */
export interface LocalSystemView {
  description: string
  up: boolean
  /** Since when it has been up or down (ISO 8601). */
  since: string
  /** While down: why, as the last refusal said. */
  error: string | null
  /** While down: the tries that failed since it went down. */
  failures: number
  /** Changes not yet written into it: 0 once it has caught up with the store. */
  behind: number
  /** Records whose write it refused, waiting to be tried again (GET /v1/status only). */
  retrying?: number
}

export function localSystemView(state: LocalSystemState): LocalSystemView {
  return {
    description: state.description,
    up: state.up,
    since: new Date(state.since).toISOString(),
    error: state.error ?? null,
    failures: state.failures,
    behind: state.behind ?? 0,
  }
}

export function peerView(instance: Instance, peer: InstanceId): PeerView | undefined {
  const record = instance.registry.get(peer)
  if (record === undefined) return undefined
  const state = instance.engine.state(peer)
  return {
    id: peer,
    name: record.name,
    addresses: record.addresses,
    paused: record.paused === true,
    share: shareOf(record),
    connected: state.connected,
    lastSyncAt: state.lastSyncAt ?? null,
    pendingIn: state.pendingIn,
    pendingOut: state.pendingOut,
    progress: state.progress ?? null,
    lastError: state.lastError ?? null,
    refused: state.refused,
    connection: connectionView(instance, peer),
    relay:
      record.relay === true
        ? { reserved: instance.transport.reservedRelays?.().includes(peer) ?? false }
        : null,
    transfers: instance.engine.fileTransfers.of(peer),
  }
}

function shareOf(record: PeerRecord): PeerView['share'] {
  const share = (record as PeerRecord & PeerSettings).share
  return typeof share === 'object' && share !== null ? (share as Record<string, unknown>) : null
}

function connectionView(instance: Instance, peer: InstanceId): PeerView['connection'] {
  const path = instance.transport.connectionPath?.(peer)
  if (path === undefined) return null
  if (path.path === 'direct') return path
  const relay = instance.registry.get(path.relay)
  return { path: 'relay', relay: { id: path.relay, name: relay?.name ?? path.relay } }
}

/** A feed entry as the API shows it. */
export interface ChangeView {
  seq: number
  id: ObjectId
  type: string
  /** The peer the change arrived from. */
  from?: InstanceId
  /** Taken in from this instance's local system (another program's edit there). */
  local?: true
}

/** Neither `from` nor `local`: made here through the API. */
export function changeView(entry: FeedEntry, self: InstanceId): ChangeView {
  return {
    seq: entry.seq,
    id: entry.object,
    type: entry.type,
    ...(entry.from === undefined
      ? {}
      : entry.from === self
        ? { local: true }
        : { from: entry.from }),
  }
}

export function peerViews(instance: Instance): PeerView[] {
  return instance.registry.list().flatMap((peer) => peerView(instance, peer.id) ?? [])
}

export interface EventHubEvents extends EventMap {
  event: [DaemonEvent]
}

/**
 * Fans the instance's happenings out to listeners (one per open event stream). Only the
 * hub publishes: holders can listen (`on`) and say a peer changed, nothing else.
 */
export class EventHub implements Subscribable<EventHubEvents> {
  private readonly stops: (() => void)[] = []
  private readonly lastSyncEvent = new Map<InstanceId, number>()
  private readonly events: TypedEvents<EventHubEvents>
  private readonly clock: () => number

  constructor(
    private readonly instance: Instance,
    options: { clock?: () => number; logger?: Logger } = {},
  ) {
    this.clock = options.clock ?? Date.now
    this.events = new TypedEvents(options.logger)
    const { store, engine } = instance
    this.stops.push(
      store.on('feed', (entries) => this.changes(entries)),
      store.on('conflict', (id) => this.publish({ event: 'conflict', data: { id } })),
      store.on('merge', (id) => this.publish({ event: 'merge', data: { id } })),
      instance.local.on('review', (id) => this.publish({ event: 'match', data: { id } })),
      instance.local.on('local-system', (state) =>
        this.publish({ event: 'local', data: localSystemView(state) }),
      ),
      engine.on('peer', (state) => this.peerChanged(state.peer)),
      engine.on('progress', (peer, progress) => this.progress(peer, progress)),
    )
  }

  on<Name extends keyof EventHubEvents & string>(
    name: Name,
    listener: Listener<EventHubEvents[Name]>,
  ): () => void {
    return this.events.on(name, listener)
  }

  get listenerCount(): number {
    return this.events.listenerCount('event')
  }

  /** A peer was paired, unpaired, connected or disconnected. */
  peerChanged(peer: InstanceId): void {
    const view = peerView(this.instance, peer)
    this.publish({ event: 'peer', data: view ?? { id: peer, removed: true } })
  }

  /** Stops listening to the instance and drops every listener. */
  close(): void {
    for (const stop of this.stops.splice(0)) stop()
    this.events.clear()
  }

  private changes(entries: readonly FeedEntry[]): void {
    if (this.listenerCount === 0 || entries.length === 0) return
    this.publish({
      event: 'change',
      data: {
        changes: entries
          .slice(0, CHANGES_PER_EVENT)
          .map((entry) => changeView(entry, this.instance.id)),
        last: entries.at(-1)!.seq,
        more: entries.length > CHANGES_PER_EVENT,
      },
    })
  }

  private progress(peer: InstanceId, progress: SessionProgress): void {
    const now = this.clock()
    const last = this.lastSyncEvent.get(peer)
    if (!progress.caughtUp && last !== undefined && now - last < SYNC_EVENT_INTERVAL_MS) return
    this.lastSyncEvent.set(peer, now)
    this.publish({ event: 'sync', data: { peer, ...progress } })
  }

  private publish(event: DaemonEvent): void {
    this.events.emit('event', event)
  }
}
