// A least-recently-used map with a bound on its size. Entries that are `pinned` (in use
// by an operation) are never evicted; the cache may exceed its bound while they are.

export class LruCache<K, V> {
  private readonly entries = new Map<K, V>()

  constructor(
    private readonly capacity: number,
    private readonly isPinned: (key: K) => boolean,
    private readonly onEvict: (key: K, value: V) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new TypeError(`cache capacity must be a positive integer, got ${capacity}`)
    }
  }

  get size(): number {
    return this.entries.size
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key)
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.entries.delete(key)
      this.entries.set(key, value)
    }
    return value
  }

  set(key: K, value: V): void {
    this.entries.delete(key)
    this.entries.set(key, value)
    this.evictOverflow()
  }

  /** Removes the entry without calling onEvict. */
  take(key: K): V | undefined {
    const value = this.entries.get(key)
    this.entries.delete(key)
    return value
  }

  values(): IterableIterator<[K, V]> {
    return this.entries.entries()
  }

  evictOverflow(): void {
    if (this.entries.size <= this.capacity) return
    for (const [key, value] of this.entries) {
      if (this.entries.size <= this.capacity) return
      if (this.isPinned(key)) continue
      this.entries.delete(key)
      this.onEvict(key, value)
    }
  }
}
