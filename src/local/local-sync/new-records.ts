// A record new in the local system becomes an object, and the link between the two is
// written in the same commit; a row the daemon wrote itself whose link a crash lost is
// linked again. So a crash between the two writes can't turn one record into two objects
// (found by the whole-daemon crash campaign, test/chaos.test.ts).
import { isObjectId, type FieldValue, type ObjectId } from '../../model/index.ts'
import type { EditOptions } from '../../store/index.ts'
import type { CustomValues, LocalRow } from '../connector.ts'
import type { EntityMapping } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'
import type { SaveLinkOptions } from './links.ts'
import { localForm, snapshot, type RowSnapshot } from './row-snapshot.ts'

/** Makes the object of a new record and links the two, in one commit. */
export async function createLinked(
  core: Pick<LocalSyncCore, 'store' | 'links'>,
  entity: EntityMapping,
  key: string,
  content: { fields: Record<string, FieldValue>; custom: CustomValues | undefined },
  seen: RowSnapshot | undefined,
  options: EditOptions,
): Promise<void> {
  const { links, store } = core
  const saves: [ObjectId, SaveLinkOptions][] = []
  const [created] = await store.createMany(
    [
      {
        input: {
          type: entity.type,
          fields: content.fields,
          ...(content.custom === undefined ? {} : { custom: content.custom }),
        },
        options,
      },
    ],
    ([made]) => {
      if (made === undefined || made instanceof Error) return []
      saves.push([made.id, { type: entity.type, key, seen }])
      return links.entriesOf(saves)
    },
  )
  if (created instanceof Error) throw created
  links.saved(saves)
}

/**
 * A row the daemon wrote for a peer's object (an import: its key is the object's id)
 * whose link a crash lost between the row's write and the link's: linked again instead
 * of becoming a second object of the same record. What it saves as seen is the row the
 * daemon would write for the object, so an edit made in the row since is taken in as
 * one; the origin is the instance that made the object. Returns the object's id when it
 * was such a row. (File rows are not: their content can't be compared this way.)
 */
export async function ownImport(
  core: Pick<LocalSyncCore, 'store' | 'links' | 'log' | 'instanceId' | 'connector'>,
  entity: EntityMapping,
  key: string,
  row: LocalRow | undefined,
): Promise<ObjectId | undefined> {
  const { links, store } = core
  if (row === undefined || entity.type === 'file') return undefined
  // Keyed by its object's id, or (a key the local system gave) known by it as the object's.
  const id = isObjectId(key) ? key : (await core.connector.objectsOfKeys?.(entity, [key]))?.get(key)
  if (id === undefined || !isObjectId(id) || links.keyOf(id) !== undefined) return undefined
  const object = await store.get(id)
  if (object === undefined || object.type !== entity.type) return undefined
  if (object.deleted || object.mergedInto !== undefined) return undefined
  const written = localForm(entity, object, { row: undefined, custom: undefined }, links.resolver())
  const origin = object.createdBy === core.instanceId ? undefined : object.createdBy
  await links.save(id, {
    type: entity.type,
    key,
    seen: snapshot(entity, written.row, written.custom),
    origin,
    ...(key === id ? {} : { inserted: true }),
  })
  core.log.info({ table: entity.table, key }, 'a row written before a crash is linked again')
  return id
}
