// Batches to the peer under credit-based flow control, and what its credits acknowledge.
// The receiver grants credits once, then credits one back after applying each batch; so
// every credit after the grant acknowledges our oldest unacknowledged batch, and what it
// covered of our feed is saved (`acked/<peer>`), for what may be forgotten once every
// peer has it (the content of deleted files).
import type { FacetId } from '../../model/index.ts'
import type { SessionCore } from './session-core.ts'
import { peerAcked } from './session-keys.ts'

export class Outbox {
  private credits = 0
  /** The first credit of a session is the peer's grant; each later one acknowledges a batch. */
  private granted = false
  /** `upTo` of each batch sent and not acknowledged yet, oldest first. */
  private readonly unacknowledged: number[] = []
  /** Our feed sequence up to which the peer applied all we sent, as it said (this session). */
  ackedUpTo = 0
  /** Where the peer's cursor of our feed stands: its `want`, then the largest `upTo` sent. */
  private toldUpTo = 0

  constructor(private readonly core: SessionCore) {}

  /** Sends a batch once the peer has credit for it (nothing, once the session closed). */
  async sendBatch(items: [FacetId, Uint8Array][], upTo: number, resume?: string): Promise<void> {
    const { core } = this
    if (items.length === 0 && upTo === 0 && resume === undefined) return
    while (this.credits === 0 && !core.closed) await core.sleep()
    if (core.closed) return
    this.credits--
    this.unacknowledged.push(upTo)
    this.toldUpTo = Math.max(this.toldUpTo, upTo)
    core.stats.batchesSent++
    core.stats.facetsSent += items.length
    await core.send({ t: 'batch', items, upTo, ...(resume === undefined ? {} : { resume }) })
  }

  /** The peer's `credit` message: `n` more batches may go, and (after the grant) as many were applied. */
  async credit(n: number): Promise<void> {
    this.credits += n
    this.core.wake()
    if (!this.granted) {
      this.granted = true
      return
    }
    let upTo = this.ackedUpTo
    for (let i = 0; i < n && this.unacknowledged.length > 0; i++) {
      upTo = Math.max(upTo, this.unacknowledged.shift()!)
    }
    if (upTo <= this.ackedUpTo) return
    this.ackedUpTo = upTo
    await peerAcked.write(this.core.store, this.core.peer, upTo)
  }

  /**
   * The peer's cursor of our feed as its `want` said: it holds our feed up to there (it
   * saves the cursor after applying), unless the cursor is past our feed's end, which
   * the peer resets on our plan.
   */
  peerWants(after: number): void {
    this.toldUpTo = Math.max(this.toldUpTo, after)
    if (after <= this.core.store.lastSeq) this.peerHolds(after)
  }

  /**
   * Whether the peer should be told, by a batch of no items, that it holds our feed up to
   * `upTo`: our feed moved on by its own changes, echoed, which are not sent back. Its
   * cursor moves only with the batches it receives, and a cursor left behind makes the
   * next session send everything after it again — after a first sync, all of it. One such
   * batch at a time: the next is told when the peer's credit for it wakes the sender.
   */
  shouldTell(upTo: number): boolean {
    return upTo > this.toldUpTo && this.unacknowledged.length === 0
  }

  /**
   * The peer holds our feed up to `upTo` without being sent anything (its own changes,
   * echoed): acknowledged at once, or with the last batch still unacknowledged. Not
   * awaited: the caller must not yield between looking at its queue and sleeping.
   */
  peerHolds(upTo: number): void {
    const { core } = this
    const last = this.unacknowledged.length - 1
    if (last >= 0) {
      this.unacknowledged[last] = Math.max(this.unacknowledged[last]!, upTo)
      return
    }
    if (upTo <= this.ackedUpTo) return
    this.ackedUpTo = upTo
    peerAcked.write(core.store, core.peer, upTo).catch((error: unknown) => {
      if (!core.closed) core.log.warn({ peer: core.peer, err: error }, 'acknowledgement not saved')
    })
  }
}
