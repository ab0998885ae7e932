// File transfers per peer, for the API's peer view and /metrics: the transfers moving
// now, bytes each way and failures since this instance started, and a rate over the last
// few seconds. One ledger serves every session of the instance, so the figures outlive
// a session that breaks off (BlobTransferStats counts chunks of one session only).
//
// Rule: what it holds is bounded whatever moves. Per peer: two rings of
// RATE_WINDOW_SECONDS numbers, and the transfers open now (a session fetches one
// content at a time, and serves the one its peer fetches).
import type { InstanceId, ObjectId } from '../../model/index.ts'

export type TransferDirection = 'in' | 'out'

export interface ActiveTransfer {
  /** The file object whose content moves. */
  file: ObjectId
  sha256: string
  /** 'in': fetched from the peer; 'out': served to it. */
  direction: TransferDirection
  /**
   * Bytes moved in this transfer. A resumed transfer counts from 0: what arrived before
   * it broke off is not moved again.
   */
  bytes: number
  /** The content's size; null until the peer's manifest says it. */
  size: number | null
}

export interface PeerTransfers {
  active: ActiveTransfer[]
  /** Content bytes received from the peer since start (chunks, before their hash check). */
  bytesIn: number
  /** Content bytes sent to the peer since start. */
  bytesOut: number
  /** Bytes per second received over the last RATE_WINDOW_SECONDS. */
  rateIn: number
  /** Bytes per second sent over the last RATE_WINDOW_SECONDS. */
  rateOut: number
  /**
   * Transfers that ended without the whole content. The receiving side counts each one
   * refused, timed out, damaged or cut off with its session; the sending side only those
   * it stopped serving (the file was deleted or left the peer's scope meanwhile), as only
   * the receiver knows what it still lacks.
   */
  failed: number
}

/** One transfer, as the side moving it reports it. Calls after end() do nothing. */
export interface Transfer {
  readonly ended: boolean
  /** The content's size, once known. */
  sized(size: number): void
  /** Content bytes moved: a chunk received or sent. */
  moved(bytes: number): void
  end(outcome: 'done' | 'failed'): void
}

/** Long enough to smooth the bursts of a window of chunks, short enough to show a stall. */
export const RATE_WINDOW_SECONDS = 5

/**
 * An outgoing transfer that moved nothing for this long has ended. The fetching side
 * asks for the next chunk as each arrives, and asks only for the chunks it lacks, so
 * after a resumed transfer nothing tells the serving side it is done but its silence.
 */
export const OUTGOING_IDLE_MS = 10_000

/** Bytes per whole second of the clock, in a fixed ring of RATE_WINDOW_SECONDS slots. */
class RateWindow {
  private readonly bytes = new Array<number>(RATE_WINDOW_SECONDS).fill(0)
  private readonly seconds = new Array<number>(RATE_WINDOW_SECONDS).fill(-Infinity)

  add(bytes: number, now: number): void {
    const second = Math.floor(now / 1000)
    const slot = second % RATE_WINDOW_SECONDS
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second
      this.bytes[slot] = 0
    }
    this.bytes[slot]! += bytes
  }

  /** What moved in the window over the time it spans now (the current second in part). */
  perSecond(now: number): number {
    const current = Math.floor(now / 1000)
    let total = 0
    for (let slot = 0; slot < RATE_WINDOW_SECONDS; slot++) {
      const age = current - this.seconds[slot]!
      if (age >= 0 && age < RATE_WINDOW_SECONDS) total += this.bytes[slot]!
    }
    const span = RATE_WINDOW_SECONDS - 1 + (now - current * 1000) / 1000
    return Math.round(total / span)
  }
}

interface OpenTransfer extends ActiveTransfer {
  lastMovedAt: number
}

interface PeerLedger {
  open: Set<OpenTransfer>
  bytes: Record<TransferDirection, number>
  rate: Record<TransferDirection, RateWindow>
  failed: number
}

export interface FileTransferStatsOptions {
  clock?: () => number
}

export class FileTransferStats {
  private readonly peers = new Map<InstanceId, PeerLedger>()
  private readonly clock: () => number

  constructor(options: FileTransferStatsOptions = {}) {
    this.clock = options.clock ?? Date.now
  }

  /** A transfer of `sha256` (the content `file` names) with `peer` begins. */
  begin(
    peer: InstanceId,
    content: { file: ObjectId; sha256: string; direction: TransferDirection; size?: number },
  ): Transfer {
    const ledger = this.ledger(peer)
    const open: OpenTransfer = {
      file: content.file,
      sha256: content.sha256,
      direction: content.direction,
      bytes: 0,
      size: content.size ?? null,
      lastMovedAt: this.clock(),
    }
    ledger.open.add(open)
    const clock = this.clock
    return {
      get ended() {
        return !ledger.open.has(open)
      },
      sized(size) {
        open.size = size
      },
      moved(bytes) {
        if (!ledger.open.has(open)) return
        const now = clock()
        open.bytes += bytes
        open.lastMovedAt = now
        ledger.bytes[open.direction] += bytes
        ledger.rate[open.direction].add(bytes, now)
      },
      end(outcome) {
        if (ledger.open.delete(open) && outcome === 'failed') ledger.failed++
      },
    }
  }

  /** The peer's transfers now; all zero for a peer nothing moved with. */
  of(peer: InstanceId): PeerTransfers {
    const ledger = this.peers.get(peer)
    if (ledger === undefined) {
      return { active: [], bytesIn: 0, bytesOut: 0, rateIn: 0, rateOut: 0, failed: 0 }
    }
    const now = this.clock()
    for (const open of ledger.open) {
      if (open.direction === 'out' && now - open.lastMovedAt > OUTGOING_IDLE_MS) {
        ledger.open.delete(open)
      }
    }
    return {
      active: [...ledger.open].map(({ file, sha256, direction, bytes, size }) => ({
        file,
        sha256,
        direction,
        bytes,
        size,
      })),
      bytesIn: ledger.bytes.in,
      bytesOut: ledger.bytes.out,
      rateIn: ledger.rate.in.perSecond(now),
      rateOut: ledger.rate.out.perSecond(now),
      failed: ledger.failed,
    }
  }

  /** Drops what was counted for `peer` (unpaired). Its transfers still open count nowhere. */
  forget(peer: InstanceId): void {
    this.peers.delete(peer)
  }

  private ledger(peer: InstanceId): PeerLedger {
    let ledger = this.peers.get(peer)
    if (ledger === undefined) {
      ledger = {
        open: new Set(),
        bytes: { in: 0, out: 0 },
        rate: { in: new RateWindow(), out: new RateWindow() },
        failed: 0,
      }
      this.peers.set(peer, ledger)
    }
    return ledger
  }
}
