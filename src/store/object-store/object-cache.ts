// The loaded objects (a bounded LRU cache) and their upkeep: appended changes are folded
// into snapshots when the store goes quiet and when an object leaves the cache, and an
// object left alone for a while is let go of.
import type { Logger } from '../../log.ts'
import type { ObjectId } from '../../model/index.ts'
import type { CommitQueue } from '../commit-queue.ts'
import type { KeyedMutex } from '../keyed-mutex.ts'
import { LruCache } from '../lru-cache.ts'
import { compactionOps, freeObject, hasChunks, type LoadedObject } from './loaded-object.ts'

// Defaults chosen from measurements on the 2-core machines. Live Automerge documents slow
// the garbage collector (DESIGN.md: ≈15× slower creates with thousands left unfreed), but
// an LRU smaller than the working set misses on every access: three daemons editing 600
// objects replicated ≈ 1,900 edits/s with 500 cached and ≈ 2,300 with 2,000, and updates
// over 5,000 objects were no slower with 2,000.
const DEFAULT_CACHE_SIZE = 2000
const DEFAULT_IDLE_COMPACTION_MS = 2_000
// An object not read or written for this long is let go of (compacted, its documents
// freed): without it the cache keeps up to DEFAULT_CACHE_SIZE objects loaded for good,
// each document's history growing with every edit — the 30-minute soak's memory grew
// 5–11 % that way with 1,000 records under steady edits. A minute keeps every object of
// an ongoing exchange loaded (an edit, its sync and its projection take milliseconds).
const DEFAULT_UNLOAD_IDLE_MS = 60_000
const MAX_TIMER_MS = 2 ** 31 - 1

export interface ObjectCacheOptions {
  cacheSize?: number | undefined
  idleCompactionMs?: number | undefined
  unloadIdleMs?: number | undefined
}

/** What the upkeep needs of the store. */
export interface ObjectCacheHost {
  readonly locks: KeyedMutex<ObjectId>
  readonly log: Logger
  /** The commit queue while the store is open. */
  commits(): CommitQueue | undefined
}

export class ObjectCache {
  readonly lru: LruCache<ObjectId, LoadedObject>
  private readonly idleCompactionMs: number
  private readonly unloadIdleMs: number
  private idleTimer: NodeJS.Timeout | undefined
  private unloadTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly host: ObjectCacheHost,
    options: ObjectCacheOptions,
  ) {
    this.idleCompactionMs = options.idleCompactionMs ?? DEFAULT_IDLE_COMPACTION_MS
    this.unloadIdleMs = options.unloadIdleMs ?? DEFAULT_UNLOAD_IDLE_MS
    if (!(this.unloadIdleMs >= 0)) {
      throw new TypeError(`unloadIdleMs must be 0 or more, got ${this.unloadIdleMs}`)
    }
    this.lru = new LruCache(
      options.cacheSize ?? DEFAULT_CACHE_SIZE,
      (id) => host.locks.isLocked(id),
      (id, loaded) => this.evicted(id, loaded),
    )
  }

  /** Starts unloading idle objects (with the store's opening). */
  start(): void {
    if (this.unloadIdleMs === 0) return
    // Swept at twice the idle time's pace: an object goes within 1.5× of it. (Timers
    // take at most 2^31 − 1 ms; past that Node would fire every millisecond.)
    const sweepMs = Math.min(Math.max(10, this.unloadIdleMs / 2), MAX_TIMER_MS)
    this.unloadTimer = setInterval(() => this.unloadIdle(), sweepMs)
    this.unloadTimer.unref()
  }

  /** Stops the timers (the store is closing). */
  stop(): void {
    clearTimeout(this.idleTimer)
    clearInterval(this.unloadTimer)
  }

  /** Something was written: compaction follows once the store has been quiet a while. */
  wrote(): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      this.compactAll().catch((error: unknown) =>
        this.host.log.warn({ err: error }, 'idle compaction failed'),
      )
    }, this.idleCompactionMs)
    this.idleTimer.unref()
  }

  /** Folds appended changes of every cached facet into snapshots. */
  async compactAll(): Promise<void> {
    const commits = this.host.commits()
    if (commits === undefined) return
    const dirty = [...this.lru.entries()].filter(([, loaded]) => hasChunks(loaded))
    await Promise.all(
      dirty.map(([id]) =>
        this.host.locks.run(id, async () => {
          const loaded = this.lru.get(id)
          if (loaded !== undefined) await commits.submit(compactionOps(id, loaded), [])
        }),
      ),
    )
  }

  /** Lets go of the objects left alone for `unloadIdleMs` (those in use stay). */
  unloadIdle(): void {
    const unloaded = this.lru.evictIdle(this.unloadIdleMs)
    if (unloaded > 0) {
      this.host.log.debug({ unloaded, loaded: this.lru.size }, 'idle objects unloaded')
    }
  }

  /** An evicted object with appended changes is compacted on its way out. */
  private evicted(id: ObjectId, loaded: LoadedObject): void {
    const commits = this.host.commits()
    if (commits !== undefined && hasChunks(loaded)) {
      commits.submit(compactionOps(id, loaded), []).catch((error: unknown) => {
        this.host.log.warn(
          { err: error, id },
          'compaction on eviction failed; the changes stay appended',
        )
      })
    }
    freeObject(loaded)
  }
}
