// The store's layout version: new stores get this one, older ones are migrated step by
// step (a failed step leaves the store at the last good layout, tried again next start),
// newer or unreadable ones are refused untouched.
import { describe, expect, it } from 'vitest'
import type { InstanceId } from '../../src/model/index.ts'
import { MemoryStorage, ObjectStore, type StorageAdapter } from '../../src/store/index.ts'
import { FORMAT_KEY, FORMAT_VERSION } from '../../src/store/keys.ts'
import { openLayout, type LayoutMigration } from '../../src/store/object-store/layout.ts'
import { captureLogger } from '../helpers/capture-logger.ts'

const text = (value: string) => new TextEncoder().encode(value)
const read = async (storage: StorageAdapter, key: string) => {
  const value = await storage.get(key)
  return value === undefined ? undefined : new TextDecoder().decode(value)
}

async function storageAt(layout: string, entries: Record<string, string> = {}) {
  const storage = new MemoryStorage()
  await storage.open()
  await storage.write(
    [[FORMAT_KEY, layout], ...Object.entries(entries)].map(([key, value]) => ({
      type: 'put' as const,
      key: key!,
      value: text(value!),
    })),
  )
  return storage
}

/** Layout 2 renames a/ keys to b/; layout 3 adds a marker. */
function ladder(failAtThree = false): LayoutMigration[] {
  return [
    {
      from: 1,
      what: 'a/ becomes b/',
      async migrate(storage) {
        const ops = []
        for await (const [key, value] of storage.range({ gte: 'a/', lt: 'a/\uffff' })) {
          ops.push({ type: 'put' as const, key: `b/${key.slice(2)}`, value })
          ops.push({ type: 'del' as const, key })
        }
        await storage.write(ops)
      },
    },
    {
      from: 2,
      what: 'a marker',
      async migrate(storage) {
        if (failAtThree) throw new Error('disk full')
        await storage.write([{ type: 'put', key: 'm/marker', value: text('yes') }])
      },
    },
  ]
}

describe('the store layout', () => {
  it('writes the current layout into a new store', async () => {
    const storage = new MemoryStorage()
    await storage.open()
    await openLayout(storage, captureLogger().logger)
    expect(await read(storage, FORMAT_KEY)).toBe(FORMAT_VERSION)
  })

  it('migrates an older store step by step, logging each step', async () => {
    const storage = await storageAt('1', { 'a/1': 'one', 'a/2': 'two' })
    const { logger, lines } = captureLogger()
    await openLayout(storage, logger, 3, ladder())
    expect(await read(storage, FORMAT_KEY)).toBe('3')
    expect([await read(storage, 'b/1'), await read(storage, 'b/2')]).toEqual(['one', 'two'])
    expect(await read(storage, 'a/1')).toBeUndefined()
    expect(await read(storage, 'm/marker')).toBe('yes')
    expect(lines.map((line) => line.msg)).toEqual([
      'migrating the store: a/ becomes b/',
      'migrating the store: a marker',
    ])
  })

  it('leaves a store whose step failed at the last good layout, and finishes at the next start', async () => {
    const storage = await storageAt('1', { 'a/1': 'one' })
    const failed = openLayout(storage, captureLogger().logger, 3, ladder(true))
    await expect(failed).rejects.toMatchObject({
      code: 'STORE_IO',
      message:
        'migrating the store from layout 2 failed (a marker); it stays at layout 2 and is tried again at the next start',
    })
    expect(await read(storage, FORMAT_KEY)).toBe('2')
    expect(await read(storage, 'b/1')).toBe('one')
    await openLayout(storage, captureLogger().logger, 3, ladder())
    expect(await read(storage, FORMAT_KEY)).toBe('3')
    expect(await read(storage, 'm/marker')).toBe('yes')
  })

  it.each([
    [
      'a newer layout',
      '4',
      'the store was written by a newer objectsync (layout 4); this one reads layouts up to 3',
    ],
    ['an unreadable layout', 'v2', "the store's layout version (m/format) is unreadable"],
    ['a layout with no way here', '0', "the store's layout version (m/format) is unreadable"],
  ])('refuses %s and writes nothing', async (_, layout, message) => {
    const storage = await storageAt(layout, { 'a/1': 'one' })
    await expect(openLayout(storage, captureLogger().logger, 3, ladder())).rejects.toMatchObject({
      code: 'STORE_IO',
      message: expect.stringContaining(message) as string,
    })
    expect(await read(storage, FORMAT_KEY)).toBe(layout)
    expect(await read(storage, 'a/1')).toBe('one')
  })

  it('refuses an older layout it has no step for, before changing anything', async () => {
    const storage = await storageAt('1', { 'a/1': 'one' })
    await expect(
      openLayout(storage, captureLogger().logger, 3, ladder().slice(1)),
    ).rejects.toMatchObject({
      code: 'STORE_IO',
      message:
        "the store has layout 1 and this objectsync can't migrate it from layout 1 (it reads 3)",
    })
    expect(await read(storage, 'a/1')).toBe('one')
  })

  it('keeps an object store written by a newer objectsync closed and unchanged', async () => {
    const storage = await storageAt('9', { 'a/1': 'one' })
    await storage.close()
    const store = new ObjectStore({ storage, instanceId: 'instance-a' as InstanceId })
    await expect(store.open()).rejects.toMatchObject({ code: 'STORE_IO' })
    await storage.open()
    expect(await read(storage, FORMAT_KEY)).toBe('9')
  })
})
