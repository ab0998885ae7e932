// A reader of the feed right behind the receiver — the local system's projection — and
// the backpressure it puts on what peers send. Without it, a first sync's receiver runs
// tens of thousands of objects ahead of the projection, and what it keeps for it (the
// received objects, ≈ 2 KB each) was most of the receiver's heap: 116 MB of 192 MB live at
// 100,000 persons. Applying a peer's documents waits while the follower is reading and
// more than `ahead` feed entries behind; the session holds its credit meanwhile, so the
// peer sends no faster than the rows are written.
//
// A follower that is idle, failing or stopped holds up no one: the store's own sync never
// depends on the local system. Nor does one that reads but does not move: a wait ends
// after `stallMs` without progress, and no one waits for it again until it moves. And no
// wait lasts more than `maxWaitMs`: a session reads nothing while it waits, and its
// heartbeat (45 s of silence ends it) must not starve behind a long backlog.

export const FOLLOW_AHEAD = 8_000
const STALL_MS = 2_000
const MAX_WAIT_MS = 10_000

export class FeedFollower {
  private position = 0
  private reading = false
  /** It read without moving for `stallMs`: no one waits for it until it moves. */
  private stalled = false
  private readonly waiting = new Set<() => void>()

  constructor(
    private readonly lastSeq: () => number,
    readonly ahead = FOLLOW_AHEAD,
    private readonly stallMs = STALL_MS,
    private readonly maxWaitMs = MAX_WAIT_MS,
  ) {}

  /** The follower reads from after `position` now. */
  reads(position: number): void {
    this.position = position
    this.reading = true
    this.stalled = false
    this.wake()
  }

  /** The follower has read up to `position`. */
  moved(position: number): void {
    this.position = position
    this.stalled = false
    this.wake()
  }

  /** The follower stopped reading (caught up, failed, or stopped). */
  rests(): void {
    this.reading = false
    this.wake()
  }

  /** How far behind the store's feed the follower is while it reads; 0 when it rests. */
  get behind(): number {
    return this.reading ? Math.max(0, this.lastSeq() - this.position) : 0
  }

  /**
   * Resolves once the follower is within `ahead`, rests, has not moved for `stallMs`, or
   * after `maxWaitMs` at most.
   */
  async room(): Promise<void> {
    const began = performance.now()
    while (!this.stalled && this.behind > this.ahead) {
      const left = this.maxWaitMs - (performance.now() - began)
      if (left <= 0) return
      const before = this.position
      const waited = performance.now()
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          this.waiting.delete(done)
          resolve()
        }
        const timer = setTimeout(done, Math.min(this.stallMs, left))
        this.waiting.add(done)
      })
      if (
        this.position === before &&
        this.reading &&
        performance.now() - waited >= this.stallMs - 1
      ) {
        this.stalled = true
      }
    }
  }

  private wake(): void {
    for (const done of [...this.waiting]) done()
  }
}
