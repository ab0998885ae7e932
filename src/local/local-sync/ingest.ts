// Taking the local system in: rows changed there (by anyone) → mapping → store edits.
// Only what differs from the row as the daemon last wrote or read it is a local edit,
// so the daemon's own writes coming back through the change log are not taken in again.
// A row the mapping can't read is reported and skipped; it is read again when it changes.
import { isObjectSyncError } from '../../errors.ts'
import type { ObjectId, ObjectType } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import {
  GROUP_MEMBERS,
  type LocalRow,
  type ReadRecord,
  type StoredCustomValues,
} from '../connector.ts'
import { changedRecords, editOptions } from './change-entries.ts'
import type { EntityMapping } from '../mapping/index.ts'
import { storeContent } from './content.ts'
import { FROM_LOCAL_SYSTEM, recordId, type LocalSyncCore } from './core.ts'
import {
  changedSince,
  diff,
  sameSnapshot,
  snapshot,
  withoutNulls,
  type ReadRow,
  type RowSnapshot,
} from './row-snapshot.ts'
import { localState } from './state-keys.ts'
import { columnOfPath, readAhead, readCustomOf } from './row-reader.ts'
import { TableIngest } from './table-ingest.ts'
import { Compare } from './compare.ts'
import { createLinked, ownImport } from './new-records.ts'

/** Change-log entries read at once. */
const CHANGES_BATCH = 1000
/** Changed rows taken in at once: the store commits their edits in groups. */
const CHANGES_CONCURRENCY = 64
/** Organizations before the persons and transactions that refer to them. */
const INGEST_ORDER: readonly ObjectType[] = ['organization', 'person', 'transaction', 'file']

/**
 * What ingest needs of the row writer: writing the merged state over a local edit of a
 * record the peer keeps. Handed in (the writer in turn takes edits in through ingest).
 */
export interface KeptRowWriter {
  writeRow(
    entity: EntityMapping,
    key: string,
    id: ObjectId,
    object: StoredObject,
    options: { overwrite: true },
  ): Promise<void>
}

export class Ingest {
  /** Rows read with a reference to a record not taken in yet, to read again once. */
  private readonly unresolved = new Map<string, [EntityMapping, string]>()
  /** When each row of the change-log batch being taken in last changed, by table and key. */
  private readonly changedAt = new Map<string, number>()

  private readonly table: TableIngest
  /** The compare of every table after the change capture was lost. */
  private readonly compare: Compare

  constructor(
    private readonly core: LocalSyncCore,
    private readonly writer: KeptRowWriter,
  ) {
    this.compare = new Compare(core)
    this.table = new TableIngest(core, {
      ingestRow: (entity, key, row) => this.ingestRow(entity, key, row),
      refused: (entity, key, error) => this.refused(entity, key, error),
    })
  }

  /**
   * Takes in every row (rows as last seen are skipped cheaply). With `deletes`, linked
   * records whose row is gone are taken in as deletes too.
   */
  async ingestEverything(options: { deletes?: boolean } = {}): Promise<boolean> {
    // Records absent while the local system can't read them all are no deletes (a compare
    // stays noted until it can). Organizations first (persons name them).
    const deletes = options.deletes === true && this.core.connector.readsWhole?.() !== false
    if (deletes !== (options.deletes === true)) {
      this.core.log.warn(
        'not every record reads (see the bad rows): absent ones are no deletes yet',
      )
    }
    for (const entity of INGEST_ORDER.flatMap((type) => this.core.mapping.get(type) ?? [])) {
      const present = await this.table.ingestTable(entity)
      if (!deletes) continue
      for (const [key, id] of this.core.links.recordsOf(entity.type)) {
        if (present.has(key)) continue
        try {
          const link = await this.core.links.read(id)
          if (link?.seen !== undefined) await this.ingestRow(entity, key)
        } catch (error) {
          // One record that can't be taken in must not hold up the others.
          this.core.log.error(
            { table: entity.table, key, err: error },
            'could not take the removed row in; it is read again at housekeeping',
          )
        }
      }
    }
    await this.retryUnresolved()
    return deletes
  }

  /** The local records as matching sees them, read once at start. */
  indexLocalRecords(): Promise<void> {
    return this.table.indexLocalRecords()
  }

  /** Takes in what the local system's change log reports since the last time. */
  async ingestChanges(): Promise<void> {
    const { connector, store } = this.core
    await this.compare.repairAndCompare((options) => this.ingestEverything(options))
    let cursor = (await localState.changesCursor.read(store)) ?? 0
    for (;;) {
      const changes = await connector.changesSince(cursor, CHANGES_BATCH)
      if (changes.length === 0) return
      // A row changed many times is read once, as it is now, and its edit is as old as
      // its last change.
      this.changedAt.clear()
      for (const change of changes) {
        if (change.at !== undefined)
          this.changedAt.set(`${change.table}\u0000${change.key}`, change.at)
      }
      const groupChanges = new Set<string>()
      const records = new Map<string, [EntityMapping, string]>()
      for (const { table, key } of changes) {
        if (table === GROUP_MEMBERS) groupChanges.add(key)
        else
          for (const entity of changedRecords(this.core, table, key)) {
            records.set(recordId(entity, key), [entity, key])
          }
      }
      await this.ingestRecords([...records.values()])
      // Membership after the rows: a record deleted together with its membership is
      // deleted while the peers still have it in scope, so the delete reaches them.
      for (const key of groupChanges) {
        try {
          await this.core.groups.readGroups(key)
        } catch (error) {
          this.core.log.error(
            { table: GROUP_MEMBERS, key, err: error },
            'could not take the group change in; it is read again at housekeeping',
          )
        }
      }
      await this.retryUnresolved()
      this.changedAt.clear()
      cursor = changes[changes.length - 1]!.seq
      await localState.changesCursor.write(store, cursor)
      await connector.acknowledge(cursor)
    }
  }

  /**
   * Takes the changed records in, many at a time so that the store commits their edits in
   * groups; organizations first (a reference to a record not in yet is read again after).
   */
  private async ingestRecords(records: readonly [EntityMapping, string][]): Promise<void> {
    for (const type of INGEST_ORDER) {
      const ofType = records.filter(([entity]) => entity.type === type)
      for (let start = 0; start < ofType.length; start += CHANGES_CONCURRENCY) {
        const slice = ofType.slice(start, start + CHANGES_CONCURRENCY)
        const read = await readAhead(this.core.connector, slice)
        await Promise.all(
          slice.map(([entity, key]) =>
            this.ingestRow(entity, key, undefined, read?.get(recordId(entity, key))).catch(
              (error: unknown) => {
                // One record that can't be taken in must not hold up the others.
                this.core.log.error(
                  { table: entity.table, key, err: error },
                  'could not take the row in; it is read again when it changes',
                )
              },
            ),
          ),
        )
      }
    }
  }

  /**
   * Takes the record in as it reads now (`known`: its row as just read; `prefetched`: its
   * row, found by readAhead, and custom fields as just read); a gone row is a delete.
   */
  async ingestRow(
    entity: EntityMapping,
    key: string,
    known?: LocalRow,
    prefetched?: ReadRecord,
  ): Promise<void> {
    const { connector, links, rows, store } = this.core
    // A second row of one record, unlinked to be removed (see MergedRows.dropDuplicate):
    // not a new record.
    if (links.isDropping(entity.type, key)) return
    const row =
      prefetched !== undefined ? prefetched.row : (known ?? (await connector.read(entity, key)))
    const objectId =
      links.objectOf(entity.type, key) ?? (await ownImport(this.core, entity, key, row))
    if (objectId !== undefined && (await this.core.rules.keptByPeer(objectId, entity.type))) {
      return this.overwriteKept(entity, key, objectId, row)
    }
    if (row === undefined) {
      rows.clear(entity, key)
      this.core.matches.remove(entity.type, key)
      if (objectId !== undefined) {
        const object = await store.get(objectId)
        if (object !== undefined && !object.deleted) {
          await store.delete(objectId, editOptions(this.changedAt, entity, key))
        }
      }
      return
    }
    const custom =
      prefetched !== undefined && entity.customFieldsTable
        ? prefetched.custom
        : await readCustomOf(connector, entity, key)
    const now = snapshot(entity, row, custom)
    const link = objectId === undefined ? undefined : await links.read(objectId)
    if (sameSnapshot(link?.seen, now)) return // our own write, coming back
    const read = rows.readOrReport(entity, key, row, custom)
    if (read === undefined) return
    if (!(await storeContent(this.core, entity, key, row))) return
    // A reference to a record not taken in yet: apply the rest, but leave the link
    // without what was seen, so the row is read again (and the reference resolved) once
    // the rest of the change log is in, and at its next change or write.
    const seen = read.unresolved === true ? undefined : now
    if (read.unresolved === true) this.unresolved.set(recordId(entity, key), [entity, key])
    try {
      await this.apply({ entity, key, objectId, read, row, custom, link: link?.seen, seen })
    } catch (error) {
      this.refused(entity, key, error)
    }
  }

  /**
   * The record is the peer's (maintain: import): a local edit or delete is written over
   * with the merged state instead of being taken in.
   */
  private async overwriteKept(
    entity: EntityMapping,
    key: string,
    objectId: ObjectId,
    row: LocalRow | undefined,
  ): Promise<void> {
    const { connector, store } = this.core
    const link = await this.core.links.read(objectId)
    const custom = await readCustomOf(connector, entity, key)
    const now = row === undefined ? undefined : snapshot(entity, row, custom)
    if (now !== undefined && sameSnapshot(link?.seen, now)) return // our own write
    const object = await store.get(objectId)
    if (object !== undefined && !object.deleted) {
      this.core.log.info(
        { table: entity.table, key },
        'local edit of a record the peer keeps (maintain: import); written over',
      )
      await this.writer.writeRow(entity, key, objectId, object, { overwrite: true })
    }
  }

  /**
   * Makes the object of a new record, or applies a linked record's edit to its object;
   * the row is no longer a bad row once it is in.
   */
  private async apply(change: {
    entity: EntityMapping
    key: string
    objectId: ObjectId | undefined
    read: ReadRow
    row: LocalRow
    custom: StoredCustomValues | undefined
    /** The row as last seen, before this read. */
    link: RowSnapshot | undefined
    /** What to save as seen now. */
    seen: RowSnapshot | undefined
  }): Promise<void> {
    const { entity, key, objectId, read, seen } = change
    const { links, matches, store } = this.core
    if (objectId === undefined) {
      const fields = withoutNulls(read.fields)
      matches.put({ type: entity.type, key, fields })
      await createLinked(
        this.core,
        entity,
        key,
        { fields, custom: read.custom },
        seen,
        editOptions(this.changedAt, entity, key),
      )
      this.core.rows.clear(entity, key)
      return
    }
    const object = await store.get(objectId)
    if (object === undefined) return
    // Only what changed in the row since the daemon last saw it is a local edit; the
    // rest may be older than the store (a peer's change not written here yet).
    matches.put({ type: entity.type, key, fields: withoutNulls(read.fields) })
    const changed = changedSince(entity, read, change.row, change.custom, change.link)
    const patch = diff(object, changed, this.core.instanceId)
    if (patch !== undefined)
      await store.update(objectId, patch, editOptions(this.changedAt, entity, key))
    await links.save(objectId, { type: entity.type, key, seen })
    this.core.rows.clear(entity, key)
  }

  /**
   * Takes what someone changed in the row since `seen` (the row as the daemon last saw it)
   * in as an edit of `objectId`, which the row does not stand for: the edits to a second
   * row of one record, made before it goes, land on the record's object.
   */
  async takeInto(
    entity: EntityMapping,
    key: string,
    objectId: ObjectId,
    seen: RowSnapshot | undefined,
  ): Promise<void> {
    const { connector, log, rows, store } = this.core
    // Without the row as last seen, what changed can't be told from what the daemon wrote:
    // taking the whole row in would write its every column over the record.
    if (seen === undefined) {
      log.info({ table: entity.table, key }, 'second row removed without taking it in (not seen)')
      return
    }
    const row = await connector.read(entity, key)
    if (row === undefined) return
    const custom = await readCustomOf(connector, entity, key)
    if (sameSnapshot(seen, snapshot(entity, row, custom))) return
    const read = rows.readOrReport(entity, key, row, custom)
    const object = await store.get(objectId)
    if (read === undefined || object === undefined || object.deleted) return
    const patch = diff(object, changedSince(entity, read, row, custom, seen), this.core.instanceId)
    if (patch === undefined) return
    try {
      await store.update(objectId, patch, FROM_LOCAL_SYSTEM)
    } catch (error) {
      this.refused(entity, key, error)
    }
  }

  /** The store refused the row: an invalid value is the row's problem; the rest throws. */
  refused(entity: EntityMapping, key: string, error: unknown): void {
    if (isObjectSyncError(error, 'INVALID_OBJECT')) {
      const path = String((error.details as { path?: string } | undefined)?.path ?? '')
      this.core.rows.report(entity, key, columnOfPath(entity, path), error.message)
      return
    }
    if (isObjectSyncError(error, 'OBJECT_DELETED')) {
      this.core.log.info(
        { table: entity.table, key },
        'row changed here, object deleted elsewhere; not restored',
      )
      return
    }
    throw error
  }

  /** Reads rows with unresolved references again (the records they name may be in now). */
  private async retryUnresolved(): Promise<void> {
    const rows = [...this.unresolved.values()]
    this.unresolved.clear()
    for (const [entity, key] of rows) {
      try {
        await this.ingestRow(entity, key)
      } catch (error) {
        this.core.log.error({ table: entity.table, key, err: error }, 'could not take the row in')
      }
    }
    // What is still unresolved waits for its next change.
    this.unresolved.clear()
  }
}
