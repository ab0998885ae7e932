// A least-recently-used map with a bound on its size. Entries that are `pinned` (in use
// by an operation) are never evicted; the cache may exceed its bound while they are.
// Each entry remembers when it was last used, so that entries left alone for a while can
// be let go of (evictIdle) as well as the oldest past the bound.

interface Entry<V> {
  value: V
  /** `now()` at the last get or set. */
  usedAt: number
}

export class LruCache<K, V> {
  private readonly map = new Map<K, Entry<V>>()

  constructor(
    private readonly capacity: number,
    private readonly isPinned: (key: K) => boolean,
    private readonly onEvict: (key: K, value: V) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new TypeError(`cache capacity must be a positive integer, got ${capacity}`)
    }
  }

  get size(): number {
    return this.map.size
  }

  /** Whether the key is held; unlike get, not a use (the entry may still go idle). */
  has(key: K): boolean {
    return this.map.has(key)
  }

  get(key: K): V | undefined {
    const entry = this.map.get(key)
    if (entry === undefined) return undefined
    // Map keeps insertion order: re-inserting marks the entry most recently used.
    this.map.delete(key)
    entry.usedAt = this.now()
    this.map.set(key, entry)
    return entry.value
  }

  set(key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, { value, usedAt: this.now() })
    this.evictOverflow()
  }

  /** Removes the entry without calling onEvict. */
  take(key: K): V | undefined {
    const entry = this.map.get(key)
    this.map.delete(key)
    return entry?.value
  }

  /** Empties the cache without calling onEvict; returns what it held. */
  clear(): V[] {
    const values = [...this.map.values()].map((entry) => entry.value)
    this.map.clear()
    return values
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [key, entry] of this.map) yield [key, entry.value]
  }

  evictOverflow(): void {
    if (this.map.size <= this.capacity) return
    for (const [key, entry] of this.map) {
      if (this.map.size <= this.capacity) return
      if (this.isPinned(key)) continue
      this.map.delete(key)
      this.onEvict(key, entry.value)
    }
  }

  /** Evicts the entries not used for `idleFor` (in `now()`'s unit) or longer; returns how many. */
  evictIdle(idleFor: number): number {
    const usedBefore = this.now() - idleFor
    let evicted = 0
    for (const [key, entry] of this.map) {
      // Oldest first: the first entry used since is followed only by newer ones.
      if (entry.usedAt > usedBefore) break
      if (this.isPinned(key)) continue
      this.map.delete(key)
      this.onEvict(key, entry.value)
      evicted += 1
    }
    return evicted
  }
}
