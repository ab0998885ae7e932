// Group commit. Every mutation hands its storage ops and feed entries to this queue;
// whatever arrives while a batch is being written goes into the next batch, so many
// concurrent writers share one LevelDB write (and one fsync when sync is on). Feed
// sequence numbers are assigned here, at commit time, so a failed batch leaves no gap.
import type { FacetId, InstanceId, ObjectId, ObjectType } from '../model/index.ts'
import { FEED_PREFIX, feedKey } from './keys.ts'
import type { StorageAdapter, StorageOp } from './storage.ts'

export interface FeedEntry {
  seq: number
  facet: FacetId
  object: ObjectId
  type: ObjectType
  /** The peer the change arrived from; absent for this instance's own changes. */
  from?: InstanceId
  /** Nothing changed: the object is to be looked at again (see ObjectStore.touch). */
  touch?: true
}

export type FeedDraft = Omit<FeedEntry, 'seq'>

interface Pending {
  ops: readonly StorageOp[]
  feed: readonly FeedDraft[]
  resolve: (entries: FeedEntry[]) => void
  reject: (error: unknown) => void
}

const encoder = new TextEncoder()

export function encodeFeedValue(draft: FeedDraft): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      t: draft.type,
      f: draft.facet,
      ...(draft.from === undefined ? {} : { p: draft.from }),
      ...(draft.touch === true ? { x: 1 } : {}),
    }),
  )
}

export { FEED_PREFIX }

export class CommitQueue {
  private pending: Pending[] = []
  private writing: Promise<void> | undefined

  constructor(
    private readonly storage: StorageAdapter,
    private readonly options: {
      sync: boolean
      lastSeq: number
      onCommitted: (entries: readonly FeedEntry[]) => void
      /** Told of each submission's ops as it is submitted. */
      onSubmit?: (ops: readonly StorageOp[]) => void
    },
  ) {}

  get lastSeq(): number {
    return this.options.lastSeq
  }

  submit(ops: readonly StorageOp[], feed: readonly FeedDraft[]): Promise<FeedEntry[]> {
    this.options.onSubmit?.(ops)
    return new Promise<FeedEntry[]>((resolve, reject) => {
      this.pending.push({ ops, feed, resolve, reject })
      this.writing ??= this.writeAll()
    })
  }

  /** Resolves once everything submitted so far is written (or has failed). */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing
  }

  private async writeAll(): Promise<void> {
    // Let writers that run in the same tick join the first batch.
    await Promise.resolve()
    while (this.pending.length > 0) {
      const group = this.pending
      this.pending = []
      await this.writeGroup(group)
    }
    this.writing = undefined
  }

  private async writeGroup(group: Pending[]): Promise<void> {
    let seq = this.options.lastSeq
    const ops: StorageOp[] = []
    const results: FeedEntry[][] = []
    for (const item of group) {
      ops.push(...item.ops)
      const entries = item.feed.map((draft) => ({ ...draft, seq: ++seq }))
      for (const entry of entries) {
        ops.push({ type: 'put', key: feedKey(entry.seq), value: encodeFeedValue(entry) })
      }
      results.push(entries)
    }
    try {
      await this.storage.write(ops, { sync: this.options.sync })
    } catch (error) {
      for (const item of group) item.reject(error)
      return
    }
    this.options.lastSeq = seq
    group.forEach((item, index) => item.resolve(results[index]!))
    const committed = results.flat()
    if (committed.length > 0) this.options.onCommitted(committed)
  }
}
