// A record new in the local system becomes an object, and the link between the two is
// written in the same commit; a row the daemon wrote itself whose link a crash lost is
// linked again. Either way a crash can't turn one record into two objects (found by the
// whole-daemon crash campaign, test/chaos.test.ts).
import { isObjectId, type FieldValue, type ObjectId } from '../../model/index.ts'
import type { EditOptions } from '../../store/index.ts'
import type { CustomValues, LocalRow } from '../connector.ts'
import type { EntityMapping } from '../mapping/index.ts'
import type { LocalSyncCore } from './core.ts'
import type { SaveLinkOptions } from './links.ts'
import { readCustomOf } from './row-reader.ts'
import { snapshot, type RowSnapshot } from './row-snapshot.ts'

/**
 * Makes the object of a new record and links the two, in one commit (a file's object is
 * made with its content first, then linked: the store makes files one at a time).
 */
export async function createLinked(
  core: Pick<LocalSyncCore, 'store' | 'links'>,
  entity: EntityMapping,
  key: string,
  content: { fields: Record<string, FieldValue>; custom: CustomValues | undefined },
  seen: RowSnapshot | undefined,
  options: EditOptions,
): Promise<void> {
  const { links, store } = core
  if (entity.type === 'file') {
    const created = await store.create(
      {
        type: 'file',
        fields: content.fields,
        ...(content.custom === undefined ? {} : { custom: content.custom }),
      },
      options,
    )
    await links.save(created.id, { type: entity.type, key, seen })
    return
  }
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
 * whose link a crash lost between the row's write and the link's: linked again, as the
 * row reads now, instead of becoming a second object of the same record. Returns the
 * object's id when it was such a row.
 */
export async function ownImport(
  core: Pick<LocalSyncCore, 'store' | 'links' | 'connector' | 'log'>,
  entity: EntityMapping,
  key: string,
  row: LocalRow | undefined,
): Promise<ObjectId | undefined> {
  const { connector, links, store } = core
  if (row === undefined || !isObjectId(key) || links.keyOf(key) !== undefined) return undefined
  const object = await store.get(key)
  if (object === undefined || object.type !== entity.type) return undefined
  const custom = await readCustomOf(connector, entity, key)
  await links.save(key, { type: entity.type, key, seen: snapshot(entity, row, custom) })
  core.log.info({ table: entity.table, key }, 'a row written before a crash is linked again')
  return key
}
