// The feed — every committed change, in order, as peers and the local system read it
// from a cursor — and the small sync-state values kept beside the documents (cursors per
// peer), written through the same commit queue so they land in order with the feed.
import { ObjectSyncError } from '../../errors.ts'
import { parseFacetId, type FacetId, type InstanceId, type ObjectType } from '../../model/index.ts'
import type { FeedEntry } from '../commit-queue.ts'
import { FEED_PREFIX, SYNC_STATE_PREFIX, feedKey, feedSeq, prefixEnd } from '../keys.ts'
import type { StorageOp } from '../storage.ts'
import type { StoreCore } from './core.ts'

const decoder = new TextDecoder()

/** A feed value as stored (see encodeFeedValue in commit-queue.ts). */
interface StoredFeedValue {
  t: ObjectType
  f: FacetId
  p?: InstanceId
  x?: 1
}

export class StoreFeed {
  constructor(private readonly core: StoreCore) {}

  async readFeed(after: number, limit: number): Promise<FeedEntry[]> {
    this.core.openCommits()
    if (!Number.isSafeInteger(after) || after < 0) {
      throw new ObjectSyncError('INVALID_CURSOR', `since: expected a feed sequence number ≥ 0`)
    }
    const entries: FeedEntry[] = []
    for await (const [key, value] of this.core.storage.range({
      gte: feedKey(after + 1),
      lt: prefixEnd(FEED_PREFIX),
      limit,
    })) {
      const { t, f, p, x } = JSON.parse(decoder.decode(value)) as StoredFeedValue
      const entry: FeedEntry = {
        seq: feedSeq(key),
        facet: f,
        object: parseFacetId(f)!.object,
        type: t,
      }
      if (p !== undefined) entry.from = p
      if (x === 1) entry.touch = true
      entries.push(entry)
    }
    return entries
  }

  async getSyncState(key: string): Promise<Uint8Array | undefined> {
    this.core.openCommits()
    return this.core.storage.get(SYNC_STATE_PREFIX + key)
  }

  async *scanSyncState(prefix: string): AsyncIterable<[string, Uint8Array]> {
    this.core.openCommits()
    const from = SYNC_STATE_PREFIX + prefix
    for await (const [key, value] of this.core.storage.range({ gte: from, lt: prefixEnd(from) })) {
      yield [key.slice(SYNC_STATE_PREFIX.length), value]
    }
  }

  async updateSyncState(
    entries: readonly (readonly [string, Uint8Array | undefined])[],
  ): Promise<void> {
    await this.core.openCommits().submit(syncStateOps(entries), [])
  }
}

/** The storage ops that put (or, with `undefined`, delete) sync-state entries. */
export function syncStateOps(
  entries: readonly (readonly [string, Uint8Array | undefined])[],
): StorageOp[] {
  return entries.map(([key, value]) =>
    value === undefined
      ? { type: 'del', key: SYNC_STATE_PREFIX + key }
      : { type: 'put', key: SYNC_STATE_PREFIX + key, value },
  )
}
