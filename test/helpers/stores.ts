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

/** Sends every facet `from` has changed since `afterSeq` to `to`, as a sync would. */
export async function ship(from: ObjectStore, to: ObjectStore, afterSeq = 0): Promise<void> {
  const facets = new Set((await from.readFeed(afterSeq, 100_000)).map((entry) => entry.facet))
  for (const facet of facets) {
    const theirs = (await to.getHeads(facet)) ?? []
    const changes = await from.getChangesSince(facet, theirs)
    if (changes !== undefined && changes.length > 0) await to.applyRemoteChanges(facet, changes)
  }
}
