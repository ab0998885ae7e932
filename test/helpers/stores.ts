import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { InstanceId } from '../../src/model/index.ts'
import {
  LevelStorage,
  MemoryStorage,
  ObjectStore,
  type ObjectStoreOptions,
  type StorageAdapter,
} from '../../src/store/index.ts'

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `objectsync-${label}-`))
}

export interface StorageKind {
  name: string
  /** A factory for one storage location; each call to the result opens it again. */
  location: () => () => StorageAdapter
}

export const STORAGE_KINDS: StorageKind[] = [
  {
    name: 'memory',
    location: () => {
      const storage = new MemoryStorage()
      return () => storage
    },
  },
  {
    name: 'level',
    location: () => {
      const dir = join(tempDir('store'), 'store')
      return () => new LevelStorage(dir)
    },
  },
]

export async function openStore(
  storage: StorageAdapter,
  options: Partial<ObjectStoreOptions> = {},
): Promise<ObjectStore> {
  const store = new ObjectStore({ storage, instanceId: 'instance-a' as InstanceId, ...options })
  await store.open()
  return store
}

export const anna = { firstName: 'Anna', lastName: 'Larsen', email: 'anna@example.org' }
