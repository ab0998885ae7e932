// Reading a local row as canonical values through the mapping, and keeping the rows the
// mapping could not read (table, key, column, problem) until they read again.
import type { FieldValue } from '../../model/index.ts'
import type { Connector, CustomValues, LocalRow } from '../connector.ts'
import { RowProblem, readField, type EntityMapping } from '../mapping/index.ts'
import { recordId, type BadRow, type LocalSyncCore } from './core.ts'
import type { ReadRow } from './row-snapshot.ts'

/** The record's custom fields, for an entity that keeps them; undefined otherwise. */
export async function readCustomOf(
  connector: Connector,
  entity: EntityMapping,
  key: string,
): Promise<CustomValues | undefined> {
  return entity.customFieldsTable ? connector.readCustom(key) : undefined
}

export class RowReader {
  private readonly problems = new Map<string, BadRow>()

  constructor(private readonly core: Pick<LocalSyncCore, 'links' | 'log'>) {}

  /** The row as canonical fields; throws RowProblem when the mapping can't read it. */
  read(entity: EntityMapping, row: LocalRow, custom: CustomValues | undefined): ReadRow {
    const fields: Record<string, FieldValue | null> = {}
    const refs = this.core.links.resolver()
    let unresolved = false
    for (const mapped of entity.fields) {
      const raw = row[mapped.column]
      const value = readField(mapped, raw, refs)
      // A reference to a record not linked yet is left as it is, not cleared.
      if (value === undefined && mapped.type === 'reference' && raw !== null && raw !== undefined) {
        unresolved = true
        continue
      }
      fields[mapped.field] = value ?? null
    }
    return { fields, custom, unresolved }
  }

  /** The row as canonical fields; a row the mapping can't read is reported (undefined). */
  readOrReport(
    entity: EntityMapping,
    key: string,
    row: LocalRow,
    custom: CustomValues | undefined,
  ): ReadRow | undefined {
    try {
      return this.read(entity, row, custom)
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error
      this.report(entity, key, error.column, error.message)
      return undefined
    }
  }

  report(entity: EntityMapping, key: string, column: string | undefined, problem: string): void {
    const bad = { table: entity.table, key, column, problem }
    this.problems.set(recordId(entity, key), bad)
    this.core.log.warn(
      bad,
      'row skipped: the mapping could not read it; it is read again when it changes',
    )
  }

  /** The row reads (or is gone): it is no longer a bad row. */
  clear(entity: EntityMapping, key: string): void {
    this.problems.delete(recordId(entity, key))
  }

  /** Rows the mapping could not read, as last seen; each leaves when its row reads again. */
  badRows(): BadRow[] {
    return [...this.problems.values()]
  }
}
