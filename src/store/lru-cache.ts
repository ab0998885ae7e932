// A least-recently-used map with a bound on its size. Entries that are `pinned` (in use
// by an operation) are never evicted; the cache may exceed its bound while they are.

export class LruCache<K, V> {
  private readonly map = new Map<K, V>()

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
    return this.map.size
  }

  get(key: K): V | undefined {
    const value = this.map.get(key)
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.map.delete(key)
      this.map.set(key, value)
    }
    return value
  }

  set(key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    this.evictOverflow()
  }

  /** Removes the entry without calling onEvict. */
  take(key: K): V | undefined {
    const value = this.map.get(key)
    this.map.delete(key)
    return value
  }

  /** Empties the cache without calling onEvict; returns what it held. */
  clear(): V[] {
    const values = [...this.map.values()]
    this.map.clear()
    return values
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries()
  }

  evictOverflow(): void {
    if (this.map.size <= this.capacity) return
    for (const [key, value] of this.map) {
      if (this.map.size <= this.capacity) return
      if (this.isPinned(key)) continue
      this.map.delete(key)
      this.onEvict(key, value)
    }
  }
}
