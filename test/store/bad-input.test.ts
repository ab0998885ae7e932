import { Level } from 'level'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import { LevelStorage } from '../../src/store/index.ts'
import { captureLogger } from '../helpers/capture-logger.ts'
import { runTs, waitForLine } from '../helpers/child.ts'
import { anna, openStore, tempDir } from '../helpers/stores.ts'

describe('bad input in the store', () => {
  it('reports a corrupt document with its id, and still opens and serves the others', async () => {
    const dir = join(tempDir('corrupt'), 'store')
    const store = await openStore(new LevelStorage(dir))
    const broken = await store.create({ type: 'person', fields: anna })
    const fine = await store.create({ type: 'person', fields: { ...anna, firstName: 'Berit' } })
    await store.close()

    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await raw.put(`d/${broken.id}/core/s`, new TextEncoder().encode('not an automerge document'))
    await raw.close()

    const { logger, lines } = captureLogger()
    const reopened = await openStore(new LevelStorage(dir), { logger })
    expect((await reopened.get(fine.id))?.fields.firstName).toBe('Berit')
    const error = await reopened.get(broken.id).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isObjectSyncError(error, 'DOCUMENT_CORRUPT')).toBe(true)
    expect((error as Error).message).toContain(`${broken.id}/core`)
    expect(lines.some((line) => line.level === 50 && line.facet === `${broken.id}/core`)).toBe(true)

    const page = await reopened.list('person')
    expect(page.items.map((item) => item.id)).toEqual([fine.id])
    expect(page.corrupt).toEqual([broken.id])
    // The corrupt bytes are left as they are for an operator to inspect: nothing rewrote them.
    await reopened.update(fine.id, { fields: { title: 'still writable' } })
    await reopened.close()
    const check = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    expect(await check.get(`d/${broken.id}/core/s`)).toBe('not an automerge document')
    await check.close()
  })

  it('tells a second process that the store is in use by another daemon', async () => {
    const dir = join(tempDir('locked'), 'store')
    const holder = runTs('test/fixtures/hold-store.ts', [dir])
    try {
      await waitForLine(holder, (line) => line === 'ready')
      const error = await openStore(new LevelStorage(dir)).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isObjectSyncError(error, 'STORE_IN_USE')).toBe(true)
      expect((error as Error).message).toContain('in use by another daemon')
      expect((error as Error).message).toContain(dir)
    } finally {
      holder.kill('SIGKILL')
      await new Promise((resolve) => holder.once('exit', resolve))
    }
    // Once the holder is gone the store opens again.
    const store = await openStore(new LevelStorage(dir))
    await store.close()
  })
})
