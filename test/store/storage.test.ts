import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelStorage, MemoryStorage } from '../../src/store/index.ts'
import { storageConformance } from './storage-conformance.ts'

storageConformance('MemoryStorage', () => {
  const storage = new MemoryStorage()
  return Promise.resolve({ storage, reopen: () => storage })
})

storageConformance('LevelStorage', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'objectsync-storage-')), 'store')
  return Promise.resolve({ storage: new LevelStorage(dir), reopen: () => new LevelStorage(dir) })
})
