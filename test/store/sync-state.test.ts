import { describe, expect, it } from 'vitest'
import {
  countValue,
  MemoryStorage,
  flagValue,
  jsonValue,
  presenceValue,
  syncStateFamily,
  syncStateKey,
  textValue,
} from '../../src/store/index.ts'
import { openStore } from '../helpers/stores.ts'

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string')

describe('typed sync state', () => {
  it('reads back what it wrote, and absent as undefined', async () => {
    const store = await openStore(new MemoryStorage())
    const cursor = syncStateKey('test/cursor', countValue)
    expect(await cursor.read(store)).toBeUndefined()
    await cursor.write(store, 42)
    expect(await cursor.read(store)).toBe(42)
    await cursor.write(store, undefined)
    expect(await cursor.read(store)).toBeUndefined()
    await store.close()
  })

  it('writes several families in one update and scans one family only', async () => {
    const store = await openStore(new MemoryStorage())
    const groups = syncStateFamily<string, string[]>('test/groups/', jsonValue(isStrings))
    const origin = syncStateFamily<string, string>('test/origin/', textValue)
    await store.updateSyncState([
      groups.entry('b', ['x']),
      groups.entry('a', ['y', 'z']),
      origin.entry('a', 'peer-1'),
    ])
    const scanned: [string, string[]][] = []
    for await (const entry of groups.scan(store)) scanned.push(entry)
    expect(scanned).toEqual([
      ['a', ['y', 'z']],
      ['b', ['x']],
    ])
    expect(await origin.read(store, 'a')).toBe('peer-1')
    expect(await origin.has(store, 'b')).toBe(false)
    await store.close()
  })

  it('refuses a value that does not decode, naming its key, instead of returning a wrong one', async () => {
    const store = await openStore(new MemoryStorage())
    const counts = syncStateFamily<string, number>('test/count/', countValue)
    await store.updateSyncState([
      ['test/count/good', new TextEncoder().encode('7')],
      ['test/count/bad', new TextEncoder().encode('7x')],
      ['test/count/huge', new TextEncoder().encode('99999999999999999')],
    ])
    const error = await counts.read(store, 'bad').catch((caught: unknown) => caught)
    expect(error).toMatchObject({
      code: 'SYNC_STATE_CORRUPT',
      message: expect.stringContaining('test/count/bad'),
    })
    const scanning = async () => {
      const read: string[] = []
      for await (const [name] of counts.scan(store)) read.push(name)
      return read
    }
    await expect(scanning()).rejects.toMatchObject({ code: 'SYNC_STATE_CORRUPT' })
    // Nothing was changed by the failed reads.
    expect(await counts.read(store, 'good')).toBe(7)
    expect(await store.getSyncState('test/count/bad')).toEqual(new TextEncoder().encode('7x'))
    await store.close()
  })

  it('reads a value that does not decode as absent when the caller says it may', async () => {
    const store = await openStore(new MemoryStorage())
    const counts = syncStateFamily<string, number>('test/count/', countValue)
    await store.updateSyncState([
      ['test/count/good', new TextEncoder().encode('7')],
      ['test/count/bad', new TextEncoder().encode('7x')],
    ])
    const read: [string, number][] = []
    for await (const entry of counts.scan(store, { unreadable: 'absent' })) read.push(entry)
    expect(read).toEqual([['good', 7]])
    expect(await counts.read(store, 'bad', { unreadable: 'absent' })).toBeUndefined()
    await store.close()
  })

  it('refuses to encode a count that is not a non-negative integer', () => {
    expect(() => countValue.encode(-1)).toThrow(TypeError)
    expect(() => countValue.encode(1.5)).toThrow(TypeError)
  })

  it('reads the bytes earlier versions wrote (text counts, one-byte marks)', () => {
    expect(countValue.decode(new TextEncoder().encode('0'))).toBe(0)
    expect(flagValue.decode(Uint8Array.of(1))).toBe(true)
    expect(flagValue.decode(Uint8Array.of(0))).toBe(false)
    expect(flagValue.decode(Uint8Array.of(2))).toBeUndefined()
    expect(presenceValue.decode(new TextEncoder().encode('1'))).toBe(true)
    expect(new TextDecoder().decode(presenceValue.encode(true))).toBe('1')
    expect(jsonValue(isStrings).decode(new TextEncoder().encode('{'))).toBeUndefined()
    expect(jsonValue(isStrings).decode(new TextEncoder().encode('[1]'))).toBeUndefined()
  })
})
