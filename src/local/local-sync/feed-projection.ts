// The projection's place in the store's feed: every change since the last run, a page
// at a time, its position kept in the store, and how many changes it still has to write
// into the local system (only those it acts on: not touches, not what it took in from
// the local system itself).
import type { InstanceId } from '../../model/index.ts'
import type { FeedEntry, FeedFollower } from '../../store/index.ts'
import type { LocalSyncCore } from './core.ts'
import { localState } from './state-keys.ts'

/** Feed entries read at once. */
const FEED_BATCH = 1000

/** How many changes to write a projection run must start with to be logged. */
const LOGGED_BEHIND = 1_000

export class FeedProjection {
  /** The feed position written into the local system up to; undefined before the first run. */
  projectedUpTo: number | undefined
  /** The store's follower, once the projection follows the receiver (LocalSync.start). */
  follower: FeedFollower | undefined
  /** Entries to act on past projectedUpTo, up to countedUpTo (undefined: not counted yet). */
  private toWrite = 0
  private countedUpTo: number | undefined

  constructor(
    private readonly core: LocalSyncCore,
    private readonly project: (entries: FeedEntry[]) => Promise<void>,
  ) {}

  /** Changes not yet written into the local system (0: caught up with the store). */
  behind(): number {
    return Math.max(0, this.toWrite)
  }

  /** New feed entries, as the store commits them: counted once the first run has counted. */
  noteFeed(entries: readonly FeedEntry[]): void {
    if (this.countedUpTo === undefined) return
    for (const entry of entries) {
      if (entry.seq <= this.countedUpTo) continue
      this.countedUpTo = entry.seq
      if (actsOn(entry, this.core.instanceId)) this.toWrite++
    }
  }

  /** Projects every change of the feed since the last time. */
  async run(): Promise<void> {
    const { store, log } = this.core
    let cursor = (await localState.projectedCursor.read(store)) ?? 0
    this.projectedUpTo = cursor
    if (this.countedUpTo === undefined) await this.count(cursor)
    this.follower?.reads(cursor)
    // A long way behind (a first sync, a bulk edit, a day offline) is said in the log, and
    // when it has caught up: "caught up" between stores says nothing of the rows here.
    const toWrite = this.toWrite
    const started = Date.now()
    if (toWrite >= LOGGED_BEHIND)
      log.info({ changes: toWrite }, 'writing changes into the local system')
    let finished = false
    try {
      for (;;) {
        const entries = await store.readFeed(cursor, FEED_BATCH)
        if (entries.length === 0) break
        await this.project(entries)
        cursor = entries[entries.length - 1]!.seq
        await localState.projectedCursor.write(store, cursor)
        this.projected(entries)
        this.follower?.moved(cursor)
      }
      finished = true
    } finally {
      this.follower?.rests()
      if (toWrite >= LOGGED_BEHIND && finished) {
        const seconds = Math.round((Date.now() - started) / 100) / 10
        log.info({ changes: toWrite, seconds }, 'local system caught up with the store')
      }
    }
  }

  /** The backlog at the first run: the entries to act on past `cursor`. */
  private async count(cursor: number): Promise<void> {
    let toWrite = 0
    let upTo = cursor
    for (;;) {
      const entries = await this.core.store.readFeed(upTo, FEED_BATCH)
      if (entries.length === 0) break
      for (const entry of entries) if (actsOn(entry, this.core.instanceId)) toWrite++
      upTo = entries[entries.length - 1]!.seq
    }
    this.toWrite = toWrite
    this.countedUpTo = upTo
  }

  /** A page written: what was counted of it leaves the backlog; the rest never joins it. */
  private projected(entries: readonly FeedEntry[]): void {
    const counted = this.countedUpTo ?? 0
    for (const entry of entries) {
      if (entry.seq <= counted && actsOn(entry, this.core.instanceId)) this.toWrite--
    }
    const last = entries[entries.length - 1]!.seq
    this.projectedUpTo = last
    this.countedUpTo = Math.max(counted, last)
  }
}

/** Whether the projection writes anything for the entry (see latestSenders). */
function actsOn(entry: FeedEntry, self: InstanceId): boolean {
  return entry.touch !== true && entry.from !== self
}
