// Keeps a reservation at each relay this instance is reachable through ("relay": true
// peers). libp2p's own ways fall short (js-libp2p issue 3601 and measured here):
// listening on `/p2p/<relay>/p2p-circuit` from the start fails when the relay is down
// then, and is never reserved again after the relay restarts; listening on `/p2p-circuit`
// reserves at whichever relaying peer connects first, not the one chosen, and keeps it.
// So this keeper connects to each chosen relay (with backoff while it does not answer),
// starts listening through it once connected, and reserves again whenever the relay is
// connected without a reservation — as after it restarted.
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../log.ts'
import type { InstanceId } from '../model/index.ts'
import { circuitRelay } from './relay-addresses.ts'

const CHECK_MS = 1_000
const FIRST_RETRY_MS = 1_000
const LONGEST_RETRY_MS = 10_000

/** The parts of libp2p's internals this needs (the node's components are not typed). */
interface Internals {
  components: {
    transportManager: {
      listen(addresses: Multiaddr[]): Promise<void>
      getTransports(): object[]
    }
  }
}
interface CircuitTransport {
  reservationStore: { addRelay(peer: PeerId, type: 'configured'): Promise<unknown> }
}

interface RelayState {
  id: InstanceId
  peer: PeerId
  failures: number
  nextTryAt: number
  busy: boolean
  listening: boolean
}

export class RelayKeeper {
  private readonly relays: RelayState[]
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly node: Libp2p,
    relays: readonly InstanceId[],
    /** Whether a relay is still paired: one unpaired since the start is left alone. */
    private readonly paired: (relay: InstanceId) => boolean,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.relays = relays.map((id) => ({
      id,
      peer: peerIdFromString(id),
      failures: 0,
      nextTryAt: 0,
      busy: false,
      listening: false,
    }))
  }

  start(): void {
    if (this.relays.length === 0) return
    this.timer = setInterval(() => this.check(), CHECK_MS)
    this.timer.unref()
    this.check()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** The relays this instance holds a reservation at. */
  reserved(): InstanceId[] {
    const relays = this.node
      .getMultiaddrs()
      .map((address) => circuitRelay(address.toString()))
      .filter((relay) => relay !== undefined)
    return [...new Set(relays)]
  }

  private check(): void {
    const now = this.clock()
    const reserved = this.reserved()
    for (const relay of this.relays) {
      if (relay.busy || relay.nextTryAt > now || !this.paired(relay.id)) continue
      if (reserved.includes(relay.id)) {
        relay.failures = 0
        continue
      }
      relay.busy = true
      this.keep(relay)
        .then(() => {
          relay.failures = 0
        })
        .catch((error: unknown) => {
          relay.failures++
          relay.nextTryAt =
            this.clock() + Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** (relay.failures - 1))
          if (relay.failures === 1) {
            this.log.warn({ relay: relay.id, err: error }, 'no reservation at the relay yet')
          }
        })
        .finally(() => (relay.busy = false))
    }
  }

  /** Connects to the relay if need be, then listens through it or reserves again. */
  private async keep(relay: RelayState): Promise<void> {
    const connection = this.node.getConnections(relay.peer)[0] ?? (await this.node.dial(relay.peer))
    const internals = (this.node as unknown as Internals).components
    if (!relay.listening) {
      const through = connection.remoteAddr.toString().includes(`/p2p/${relay.id}`)
        ? connection.remoteAddr
        : connection.remoteAddr.encapsulate(`/p2p/${relay.id}`)
      await internals.transportManager.listen([through.encapsulate('/p2p-circuit')])
      relay.listening = true
    } else {
      // The listener through it stays; the relay forgot us (it restarted, say).
      const circuit = internals.transportManager
        .getTransports()
        .find((transport) => 'reservationStore' in transport) as CircuitTransport | undefined
      await circuit?.reservationStore.addRelay(relay.peer, 'configured')
    }
    this.log.info({ relay: relay.id }, 'reserved at the relay')
  }
}
