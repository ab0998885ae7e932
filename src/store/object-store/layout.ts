// The store's layout version (m/format) and the migrations from each earlier layout. A
// store is brought to this objectsync's layout when it opens, one step at a time; each
// step's version is written after the step, so a step cut short by a crash runs again at
// the next start (steps are written to be run twice). A store written by a newer
// objectsync is refused, untouched.
import { ObjectSyncError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import { FORMAT_KEY, FORMAT_VERSION } from '../keys.ts'
import type { StorageAdapter } from '../storage.ts'

export interface LayoutMigration {
  /** The layout it reads; it leaves `from + 1`. */
  from: number
  /** What it changes, for the log. */
  what: string
  /**
   * Runs the step. It may be cut short by a crash and run again at the next start: it
   * must be right when run twice, and write with `{ sync: true }` (the version written
   * after it is synced, and must not outlive a step's writes lost to a power cut).
   */
  migrate(storage: StorageAdapter): Promise<void>
}

/**
 * Oldest first. None yet: layout 1 is the first. A later layout adds its step here and
 * keeps test/fixtures/data-folders' older folders opening (test/upgrade.test.ts).
 */
export const LAYOUT_MIGRATIONS: readonly LayoutMigration[] = []

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Reads the layout version of an open storage, writing `current` into a new one and
 * migrating an older one step by step. Throws STORE_IO for a newer, unreadable or
 * unmigratable layout, before anything is written.
 */
export async function openLayout(
  storage: StorageAdapter,
  log: Logger,
  current = Number(FORMAT_VERSION),
  migrations: readonly LayoutMigration[] = LAYOUT_MIGRATIONS,
): Promise<void> {
  const stored = await storage.get(FORMAT_KEY)
  if (stored === undefined) {
    await writeLayout(storage, current)
    return
  }
  const text = decoder.decode(stored)
  let version = /^[1-9]\d{0,8}$/.test(text) ? Number(text) : undefined
  if (version === undefined) {
    throw new ObjectSyncError(
      'STORE_IO',
      `the store's layout version (${FORMAT_KEY}) is unreadable: ${JSON.stringify(text.slice(0, 40))}`,
    )
  }
  if (version > current) {
    throw new ObjectSyncError(
      'STORE_IO',
      `the store was written by a newer objectsync (layout ${version}); this one reads layouts up to ${current}: upgrade objectsync, or restore the data folder's backup from before the upgrade`,
    )
  }
  const steps: LayoutMigration[] = []
  for (let from = version; from < current; from++) {
    const step = migrations.find((migration) => migration.from === from)
    if (step === undefined) {
      throw new ObjectSyncError(
        'STORE_IO',
        `the store has layout ${version} and this objectsync can't migrate it from layout ${from} (it reads ${current})`,
      )
    }
    steps.push(step)
  }
  for (const step of steps) {
    log.info({ from: version, to: version + 1 }, `migrating the store: ${step.what}`)
    try {
      await step.migrate(storage)
    } catch (error) {
      throw new ObjectSyncError(
        'STORE_IO',
        `migrating the store from layout ${version} failed (${step.what}); it stays at layout ${version} and is tried again at the next start`,
        { cause: error },
      )
    }
    version++
    await writeLayout(storage, version)
  }
}

function writeLayout(storage: StorageAdapter, version: number): Promise<void> {
  return storage.write([{ type: 'put', key: FORMAT_KEY, value: encoder.encode(String(version)) }], {
    sync: true,
  })
}
