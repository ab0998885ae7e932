// The stored parts of the objects read or written last, so that the reads that follow one
// another for one object — a local edit reads the object, changes it, and the sync sends
// it; a peer's edit is appended, then projected — cost one range read instead of three.
// (A LevelDB range read opens an iterator: ≈ 0.1 ms, most of an edit's cost once
// documents are no longer loaded for it.)
//
// Sound by two rules: every commit that writes an object's documents drops its entry
// when it is submitted (StoreCore wires this into the commit queue), and entries are
// filled only by code that holds the object's lock: read from storage, or written by
// its own commit. Every writer of documents holds the lock and awaits its commit, but
// one: the compaction of an object leaving the cache, whose parts read meanwhile hold
// the same content in more pieces (and chunk numbers no lower than stored: new chunks
// never collide).
import type { ObjectId } from '../../model/index.ts'
import type { StorageOp } from '../storage.ts'
import type { StoredParts } from './loaded-object.ts'

const DOCUMENT_PREFIX = 'd/'

export class RecentParts {
  private readonly entries = new Map<ObjectId, StoredParts>()

  constructor(private readonly limit = 4096) {}

  /** The parts as last read or written; treat as read-only. */
  get(id: ObjectId): StoredParts | undefined {
    return this.entries.get(id)
  }

  /** Keeps `parts` as the object's (the newest last; the oldest go past the limit). */
  set(id: ObjectId, parts: StoredParts): void {
    if (parts.size === 0) return
    this.entries.delete(id)
    this.entries.set(id, parts)
    if (this.entries.size > this.limit) {
      this.entries.delete(this.entries.keys().next().value!)
    }
  }

  /** Drops the objects whose documents `ops` write. */
  written(ops: readonly StorageOp[]): void {
    if (this.entries.size === 0) return
    for (const op of ops) {
      const { key } = op
      if (!key.startsWith(DOCUMENT_PREFIX)) continue
      const end = key.indexOf('/', DOCUMENT_PREFIX.length)
      if (end > 0) this.entries.delete(key.slice(DOCUMENT_PREFIX.length, end) as ObjectId)
    }
  }

  clear(): void {
    this.entries.clear()
  }
}

/** `parts` with `facet` followed by one more chunk (`index`), as stored after appending it. */
export function withChunk(
  parts: StoredParts,
  facet: Parameters<StoredParts['get']>[0],
  index: number,
  chunk: Uint8Array,
): StoredParts {
  const next: StoredParts = new Map(parts)
  const part = parts.get(facet)
  next.set(facet, {
    ...(part?.snapshot === undefined ? {} : { snapshot: part.snapshot }),
    chunks: [...(part?.chunks ?? []), chunk],
    last: index,
  })
  return next
}
