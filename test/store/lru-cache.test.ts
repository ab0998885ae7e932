import { describe, expect, it } from 'vitest'
import { LruCache } from '../../src/store/lru-cache.ts'

function cache(capacity: number, pinned: Set<string> = new Set()) {
  let now = 0
  const evicted: string[] = []
  const lru = new LruCache<string, number>(
    capacity,
    (key) => pinned.has(key),
    (key) => evicted.push(key),
    () => now,
  )
  return { lru, evicted, advance: (ms: number) => (now += ms) }
}

describe('LruCache', () => {
  it('evicts the least recently used past its capacity, never a pinned entry', () => {
    const pinned = new Set(['a'])
    const { lru, evicted } = cache(2, pinned)
    lru.set('a', 1)
    lru.set('b', 2)
    lru.get('a')
    lru.set('c', 3) // b is the least recently used
    expect(evicted).toEqual(['b'])
    lru.set('d', 4) // a is older than c, but pinned
    expect(evicted).toEqual(['b', 'c'])
    expect([...lru.entries()].map(([key]) => key)).toEqual(['a', 'd'])
  })

  it('evicts the entries idle for the given time, oldest first, skipping pinned ones', () => {
    const pinned = new Set(['b'])
    const { lru, evicted, advance } = cache(10, pinned)
    lru.set('a', 1)
    lru.set('b', 2)
    advance(50)
    lru.set('c', 3)
    advance(50)
    lru.get('a') // used again: now the newest
    expect(lru.evictIdle(101)).toBe(0) // none idle that long (b: 100)
    advance(1)
    expect(lru.evictIdle(101)).toBe(0) // b is, but pinned
    expect(lru.has('c')).toBe(true) // asking is not a use
    expect(lru.evictIdle(51)).toBe(1) // c, set 51 ago; a was used 1 ago
    expect(evicted).toEqual(['c'])
    pinned.clear()
    expect(lru.evictIdle(100)).toBe(1)
    expect(evicted).toEqual(['c', 'b'])
    expect(lru.take('a')).toBe(1)
    expect(lru.size).toBe(0)
  })
})
