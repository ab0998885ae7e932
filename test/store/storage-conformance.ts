// One conformance suite for every StorageAdapter: what the object store relies on.
import { describe, expect, it } from 'vitest'
import type { StorageAdapter } from '../../src/store/index.ts'
import { isObjectSyncError } from '../../src/errors.ts'

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value)

async function collect(iterable: AsyncIterable<[string, Uint8Array]>): Promise<string[]> {
  const keys: string[] = []
  for await (const [key] of iterable) keys.push(key)
  return keys
}

export function storageConformance(
  name: string,
  make: () => Promise<{ storage: StorageAdapter; reopen: () => StorageAdapter }>,
): void {
  describe(`StorageAdapter conformance: ${name}`, () => {
    it('reads back what it wrote, and undefined for missing keys', async () => {
      const { storage } = await make()
      await storage.open()
      await storage.write([{ type: 'put', key: 'a', value: bytes('1') }])
      expect(text(await storage.get('a'))).toBe('1')
      expect(await storage.get('missing')).toBeUndefined()
      expect((await storage.getMany(['a', 'missing'])).map(text)).toEqual(['1', undefined])
      await storage.close()
    })

    it('applies a batch of puts and deletes', async () => {
      const { storage } = await make()
      await storage.open()
      await storage.write([
        { type: 'put', key: 'a', value: bytes('1') },
        { type: 'put', key: 'b', value: bytes('2') },
      ])
      await storage.write([
        { type: 'del', key: 'a' },
        { type: 'put', key: 'c', value: bytes('3') },
        { type: 'del', key: 'never-there' },
      ])
      expect(await collect(storage.range({}))).toEqual(['b', 'c'])
      await storage.close()
    })

    it('ranges in key order with bounds, limit and reverse', async () => {
      const { storage } = await make()
      await storage.open()
      const keys = ['f/02', 'd/x/core/s', 'f/10', 'd/x/core/c01', 'f/01', 't/a', 'f/']
      await storage.write(keys.map((key) => ({ type: 'put', key, value: bytes(key) })))
      expect(await collect(storage.range({ gte: 'f/', lt: 'f/\uffff' }))).toEqual([
        'f/',
        'f/01',
        'f/02',
        'f/10',
      ])
      expect(await collect(storage.range({ gte: 'f/01', lt: 'f/10' }))).toEqual(['f/01', 'f/02'])
      expect(
        await collect(storage.range({ gte: 'f/', lt: 'f/\uffff', reverse: true, limit: 2 })),
      ).toEqual(['f/10', 'f/02'])
      expect(await collect(storage.range({ gte: 'd/x/', lt: 'd/x/\uffff' }))).toEqual([
        'd/x/core/c01',
        'd/x/core/s',
      ])
      expect(await collect(storage.range({ gte: 'zz' }))).toEqual([])
      await storage.close()
    })

    it('ranges over more entries than one read returns', async () => {
      const { storage } = await make()
      await storage.open()
      const keys = Array.from({ length: 2500 }, (_, i) => `k/${String(i).padStart(5, '0')}`)
      await storage.write(keys.map((key) => ({ type: 'put', key, value: bytes('v') })))
      expect(await collect(storage.range({ gte: 'k/', lt: 'k/\uffff' }))).toEqual(keys)
      await storage.close()
    })

    it('keeps its own copy of values', async () => {
      const { storage } = await make()
      await storage.open()
      const value = bytes('abc')
      await storage.write([{ type: 'put', key: 'a', value }])
      value[0] = 0x7a
      const read = (await storage.get('a'))!
      read[1] = 0x7a
      expect(text(await storage.get('a'))).toBe('abc')
      // A view into a Buffer too (a Buffer's slice() is a view, not a copy).
      const buffer = Buffer.from('xyz-def')
      await storage.write([{ type: 'put', key: 'b', value: buffer.subarray(4) }])
      buffer[4] = 0x7a
      expect(text(await storage.get('b'))).toBe('def')
      await storage.close()
    })

    it('keeps what was written across close and reopen', async () => {
      const { storage, reopen } = await make()
      await storage.open()
      await storage.write([{ type: 'put', key: 'kept', value: bytes('yes') }], { sync: true })
      await storage.close()
      const again = reopen()
      await again.open()
      expect(text(await again.get('kept'))).toBe('yes')
      await again.close()
    })

    it('refuses use after close with STORE_CLOSED', async () => {
      const { storage } = await make()
      await storage.open()
      await storage.close()
      const error = await storage.get('a').then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isObjectSyncError(error, 'STORE_CLOSED')).toBe(true)
    })
  })
}
