// Keys the local system gives. A table whose key column can't hold an object's id (an
// integer or uuid column filled by a sequence or default, as nearly every CRM's is) can't
// take the daemon's new rows under that id: the database gives each its key. The connector
// then remembers which object each of its inserted rows stands for, in `_objectsync_keys`,
// in the same transaction as the insert, and a read or write asked for by the object's id
// finds that row. So a crash between the insert and the link's save can't make the object
// a second row (the write is tried again, finds the row and updates it), and the row read
// back by its own key is known as the object's (`objectOfKey`).
import { isObjectId } from '../model/index.ts'
import type { LocalRow } from './connector.ts'
import type { EntityMapping } from './mapping/index.ts'

export const KEYS_TABLE = '_objectsync_keys'

/** The key a row asked for by `asked` has: its own where asked by an object's id. */
export interface KeyLookup {
  /** The keys to select by (object ids with no row left out). */
  keys: string[]
  /** For each key selected, the keys it was asked for by. */
  askedBy: Map<string, string[]>
}

/**
 * Which keys to select, given the keys asked for and, for object ids among them, the keys
 * of the rows inserted for them (`inserted`, object id → row key).
 */
export function lookupKeys(
  asked: readonly string[],
  inserted: ReadonlyMap<string, string> | undefined,
): KeyLookup {
  const askedBy = new Map<string, string[]>()
  for (const key of asked) {
    const own = inserted !== undefined && isObjectId(key) ? inserted.get(key) : key
    if (own === undefined) continue
    const list = askedBy.get(own)
    if (list === undefined) askedBy.set(own, [key])
    else list.push(key)
  }
  return { keys: [...askedBy.keys()], askedBy }
}

/** The object ids among `keys`: only these can name a row whose key was given. */
export const objectIdsAmong = (keys: readonly string[]): string[] => keys.filter(isObjectId)

/**
 * The key of a record as read (`row`) for the key it was asked for: its own, which differs
 * where the local system gave a row the daemon inserted for an object its key (the row is
 * asked for by the object's id, see assigned-keys.ts).
 */
export function ownKey(entity: EntityMapping, asked: string, row: LocalRow | undefined): string {
  const key = row?.[entity.key]
  return key === undefined || key === null || key instanceof Uint8Array ? asked : String(key)
}
