// The projection's place in the store's feed: every change since the last run, a page
// at a time, its position kept in the store, and how far behind the store it is.
import type { FeedEntry, FeedFollower } from '../../store/index.ts'
import type { LocalSyncCore } from './core.ts'
import { localState } from './state-keys.ts'

/** Feed entries read at once. */
const FEED_BATCH = 1000

/** How far behind the store a projection run must start to be logged (changes). */
const LOGGED_BEHIND = 1_000

export class FeedProjection {
  /** The feed position written into the local system up to; undefined before the first run. */
  projectedUpTo: number | undefined
  /** The store's follower, once the projection follows the receiver (LocalSync.start). */
  follower: FeedFollower | undefined

  constructor(
    private readonly core: LocalSyncCore,
    private readonly project: (entries: FeedEntry[]) => Promise<void>,
  ) {}

  /** Changes of the store not yet written into the local system (0: caught up). */
  behind(): number {
    const upTo = this.projectedUpTo
    return upTo === undefined ? 0 : Math.max(0, this.core.store.lastSeq - upTo)
  }

  /** Projects every change of the feed since the last time. */
  async run(): Promise<void> {
    const { store, log } = this.core
    let cursor = (await localState.projectedCursor.read(store)) ?? 0
    this.projectedUpTo = cursor
    this.follower?.reads(cursor)
    // A long way behind (a first sync, a bulk edit, a day offline) is said in the log, and
    // when it has caught up: "caught up" between stores says nothing of the rows here.
    const behind = store.lastSeq - cursor
    const started = Date.now()
    if (behind >= LOGGED_BEHIND)
      log.info({ changes: behind }, 'writing changes into the local system')
    let finished = false
    try {
      for (;;) {
        const entries = await store.readFeed(cursor, FEED_BATCH)
        if (entries.length === 0) break
        await this.project(entries)
        cursor = entries[entries.length - 1]!.seq
        await localState.projectedCursor.write(store, cursor)
        this.projectedUpTo = cursor
        this.follower?.moved(cursor)
      }
      finished = true
    } finally {
      this.follower?.rests()
      if (behind >= LOGGED_BEHIND && finished) {
        const seconds = Math.round((Date.now() - started) / 100) / 10
        log.info({ changes: behind, seconds }, 'local system caught up with the store')
      }
    }
  }
}
