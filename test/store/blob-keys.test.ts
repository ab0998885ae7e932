// The blob store's key layout is on disk: these keys must stay byte for byte what
// existing data folders hold.
import { describe, expect, it } from 'vitest'
import {
  BLOB_PREFIX,
  WANT_PREFIX,
  blobKey,
  chunkKey,
  chunkPrefix,
  newStoreId,
  partialKey,
  shaOfKey,
  storeIdOfChunkKey,
  under,
  wantKey,
} from '../../src/store/blob-store/keys.ts'

const sha = 'ab'.repeat(32)

describe('blob store keys', () => {
  it('keeps the stored layout', () => {
    expect(blobKey(sha)).toBe(`b/b/${sha}`)
    expect(partialKey(sha)).toBe(`b/p/${sha}`)
    expect(wantKey(sha)).toBe(`b/w/${sha}`)
    expect(chunkPrefix('0123456789abcdef01234567')).toBe('b/c/0123456789abcdef01234567/')
    expect(chunkKey('0123456789abcdef01234567', 2)).toBe('b/c/0123456789abcdef01234567/00000002')
  })

  it('reads back what it builds', () => {
    const id = newStoreId()
    expect(id).toMatch(/^[0-9a-f]{24}$/)
    expect(storeIdOfChunkKey(chunkKey(id, 12))).toBe(id)
    expect(shaOfKey(BLOB_PREFIX, blobKey(sha))).toBe(sha)
    expect(shaOfKey(WANT_PREFIX, wantKey(sha))).toBe(sha)
  })

  it('ranges over one prefix only', () => {
    const range = under(chunkPrefix('a'))
    expect(range.gte).toBe('b/c/a/')
    expect(chunkKey('a', 0) >= range.gte! && chunkKey('a', 0) < range.lt!).toBe(true)
    expect(chunkKey('ab', 0) < range.lt! && chunkKey('ab', 0) >= range.gte!).toBe(false)
  })
})
