// What a change-log entry of the local system says: the records it is about, and when
// the edit it stands for was made.
import type { EditOptions } from '../../store/index.ts'
import type { EntityMapping } from '../mapping/index.ts'
import { FROM_LOCAL_SYSTEM, type LocalSyncCore } from './core.ts'

/** The records a change-log entry is about: its row's, or (custom fields) each linked one. */
export function changedRecords(
  core: Pick<LocalSyncCore, 'byTable' | 'mapping' | 'links'>,
  table: string,
  key: string,
): EntityMapping[] {
  if (table !== 'custom_fields') return [...(core.byTable.get(table) ?? [])]
  return [...core.mapping.values()].filter(
    (entity) => entity.customFieldsTable && core.links.objectOf(entity.type, key) !== undefined,
  )
}

/**
 * A local edit's options: from the local system, made when its change log says
 * (`changedAt`: the last change of each row in the batch being taken in, by table and
 * key), else now.
 */
export function editOptions(
  changedAt: ReadonlyMap<string, number>,
  entity: EntityMapping,
  key: string,
): EditOptions {
  // The row's own change, or its custom fields' (logged under their own table).
  const times = [entity.table, 'custom_fields'].flatMap(
    (table) => changedAt.get(`${table}\u0000${key}`) ?? [],
  )
  return times.length === 0 ? FROM_LOCAL_SYSTEM : { ...FROM_LOCAL_SYSTEM, at: Math.max(...times) }
}
