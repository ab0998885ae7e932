// Keeps a connection to each relay this instance listens through. libp2p redials a
// keep-alive peer a few times after a loss, but not a relay that was down when the
// instance started or stayed down past those tries (measured: no reservation 30 s after
// the relay came back); once connected again, the circuit transport reserves by itself.
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../log.ts'
import type { InstanceId } from '../model/index.ts'

const CHECK_MS = 2_000
const FIRST_RETRY_MS = 2_000
const LONGEST_RETRY_MS = 10_000

interface RelayState {
  peer: PeerId
  failures: number
  nextTryAt: number
  dialing: boolean
}

export class RelayKeeper {
  private readonly relays: RelayState[]
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly node: Libp2p,
    relays: readonly InstanceId[],
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.relays = relays.map((id) => ({
      peer: peerIdFromString(id),
      failures: 0,
      nextTryAt: 0,
      dialing: false,
    }))
  }

  start(): void {
    if (this.relays.length === 0) return
    this.timer = setInterval(() => this.check(), CHECK_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private check(): void {
    const now = this.clock()
    for (const relay of this.relays) {
      if (relay.dialing || relay.nextTryAt > now) continue
      if (this.node.getConnections(relay.peer).length > 0) {
        relay.failures = 0
        continue
      }
      relay.dialing = true
      this.node
        .dial(relay.peer)
        .then(() => {
          relay.failures = 0
          this.log.info({ relay: relay.peer.toString() }, 'connected to the relay again')
        })
        .catch((error: unknown) => {
          relay.failures++
          relay.nextTryAt =
            this.clock() + Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** (relay.failures - 1))
          if (relay.failures === 1) {
            this.log.warn({ relay: relay.peer.toString(), err: error }, 'the relay does not answer')
          }
        })
        .finally(() => (relay.dialing = false))
    }
  }
}
