// File contents between rows and the blob store: a row's content columns hold a file's
// bytes, its object only their sha256, and the bytes themselves travel as blobs.
import { isObjectSyncError } from '../../errors.ts'
import type { StoredObject } from '../../store/index.ts'
import type { LocalRow } from '../connector.ts'
import type { EntityMapping } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'

type Core = Pick<LocalSyncCore, 'store' | 'rows'>

/**
 * Puts the file bytes of the row's content columns in the blob store, where the file
 * object's sha256 names them. Content over the limit is reported as the row's problem
 * and nothing of it is kept (false: the row is not taken in).
 */
export async function storeContent(
  core: Core,
  entity: EntityMapping,
  key: string,
  row: LocalRow,
): Promise<boolean> {
  for (const mapped of entity.fields) {
    const bytes = row[mapped.column]
    if (mapped.type !== 'content' || !(bytes instanceof Uint8Array)) continue
    try {
      await core.store.blobs.put(bytes)
    } catch (error) {
      if (!isObjectSyncError(error, 'BLOB_TOO_LARGE')) throw error
      core.rows.report(entity, key, mapped.column, error.message)
      return false
    }
  }
  return true
}

/** Whether every file content the object's row takes is held here. */
export async function contentHeld(
  core: Pick<Core, 'store'>,
  entity: EntityMapping,
  object: StoredObject,
): Promise<boolean> {
  for (const mapped of entity.fields) {
    const sha = object.fields[mapped.field]
    if (mapped.type !== 'content' || typeof sha !== 'string') continue
    if (!(await core.store.blobs.has(sha))) return false
  }
  return true
}

/**
 * The bytes each content column of the row takes (null where the object names none),
 * or undefined while some of them are not held here yet.
 */
export async function contentsOf(
  core: Pick<Core, 'store'>,
  entity: EntityMapping,
  object: StoredObject,
): Promise<Map<string, Uint8Array | null> | undefined> {
  const contents = new Map<string, Uint8Array | null>()
  for (const mapped of entity.fields) {
    if (mapped.type !== 'content') continue
    const sha = object.fields[mapped.field]
    if (typeof sha !== 'string') {
      contents.set(mapped.column, null)
      continue
    }
    const bytes = await core.store.blobs.read(sha)
    if (bytes === undefined) return undefined
    contents.set(mapped.column, bytes)
  }
  return contents
}
