// Writing one object into one local record, and linking the two with the row as it
// reads back (so that its change-log entry is recognised as the daemon's own write).
// A record someone edited since the daemon last saw it is taken in first, through the
// ingest handed in, and the merged state written once.
import type { InstanceId, ObjectId } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import type { LocalRow, ReadRecord } from '../connector.ts'
import type { EntityMapping } from '../mapping/index.ts'
import { unresolvedReferences } from './awaited-references.ts'
import { contentsOf } from './content.ts'
import { ownKey } from '../assigned-keys.ts'
import type { LocalSyncCore } from './core.ts'
import { localForm, sameLocal, sameSnapshot, snapshot, type RowSnapshot } from './row-snapshot.ts'
import { localState } from './state-keys.ts'
import { readCustomOf } from './row-reader.ts'

/** Takes a row in as a local edit (ingest's `ingestRow`). */
export type TakeIn = (
  entity: EntityMapping,
  key: string,
  /** The row as just read; undefined: read it (gone: a delete). */
  row: LocalRow | undefined,
) => Promise<void>

export interface WriteRowOptions {
  /** The peer whose object becomes the record (saved with the link). */
  origin?: InstanceId | undefined
  /** Write over a local edit instead of taking it in (the record is read-only here). */
  overwrite?: boolean
  /** Writes that found the record changed under them so far. */
  tries?: number
}

/** Writes that find the record changed under them before the object waits for a retry. */
const MAX_WRITE_TRIES = 3

/** Whether the record reads as `before` (absent: no record). */
function sameRecord(
  entity: EntityMapping,
  now: ReadRecord,
  before: RowSnapshot | undefined,
): boolean {
  if (now.row === undefined || before === undefined)
    return now.row === undefined && before === undefined
  return sameSnapshot(before, snapshot(entity, now.row, now.custom))
}

export class RowWriter {
  constructor(
    private readonly core: Pick<
      LocalSyncCore,
      'store' | 'connector' | 'links' | 'matches' | 'log' | 'awaiting'
    >,
    private readonly takeIn: TakeIn,
  ) {}

  /**
   * Writes the object into the record `key`. A record someone changed since the daemon
   * last saw it is taken in first, unless `overwrite` (the record is read-only here).
   */
  async writeRow(
    entity: EntityMapping,
    key: string,
    id: ObjectId,
    object: StoredObject,
    options: WriteRowOptions = {},
  ): Promise<void> {
    const { connector, links, store } = this.core
    const before = await connector.read(entity, key)
    const beforeCustom = await readCustomOf(connector, entity, key)
    const link = await links.read(id)
    if (
      options.overwrite !== true &&
      before !== undefined &&
      link !== undefined &&
      !sameSnapshot(link.seen, snapshot(entity, before, beforeCustom))
    ) {
      // Someone changed the row since the daemon last wrote or read it, and that change is
      // not in yet: take it in first (as a local edit that merges with the store's state),
      // then write the merged state (a row that can't be read stays as it is). A row that
      // keeps changing under us is left for a retry after a few tries.
      await this.takeIn(entity, key, before)
      // Not taken in (a row that can't be read, reported as a bad row; a reference not
      // resolved yet): the row stays as it is until it is.
      const taken = await links.read(id)
      if (!sameSnapshot(taken?.seen, snapshot(entity, before, beforeCustom))) return
      return this.writeAgain(entity, key, id, options)
    }
    if (
      options.overwrite !== true &&
      before === undefined &&
      link?.key === key &&
      link.seen !== undefined
    ) {
      // Removed by someone since the daemon last saw it (the daemon's own removals forget
      // what they saw): a delete to take in, not a row to write back.
      await this.takeIn(entity, key, undefined)
      await links.save(id, { type: entity.type, key, seen: undefined })
      return
    }
    const contents = await contentsOf(this.core, entity, object)
    if (contents === undefined) {
      // The file's bytes are still on their way from a peer: the row is written once
      // they are here and verified (projectWaiting, when the blob store publishes them).
      if (!(await localState.contentWait.has(store, id))) {
        const from = options.origin ?? (await links.originOf(id))
        await localState.contentWait.write(store, id, { from })
      }
      this.core.log.debug(
        { table: entity.table, key, object: id },
        'file row waits for its content',
      )
      return
    }
    // As the record reads now, before the new row is made from it (which may reuse it).
    const beforeSnapshot = before === undefined ? undefined : snapshot(entity, before, beforeCustom)
    const refs = links.resolver()
    const { row, custom, unchanged } = localForm(
      entity,
      object,
      { row: before, custom: beforeCustom },
      refs,
    )
    const unresolved = unresolvedReferences(object, refs)
    for (const [column, bytes] of contents) row[column] = bytes
    const contentChanged = [...contents].some(
      ([column, bytes]) => !sameLocal(before?.[column], bytes),
    )
    const written = !unchanged || contentChanged
    let after = before
    let afterCustom = beforeCustom
    if (written) {
      // Written only if the record still reads as it did above, in the write's own
      // transaction: another program's edit in between was written over and lost (seen
      // by the crash campaign, with a writer every 15 ms). Then it is taken in first.
      const [outcome] = await connector.writeMany(entity, [
        { key, row, custom, unchanged: (now) => sameRecord(entity, now, beforeSnapshot) },
      ])
      if (outcome === 'changed') return this.writeAgain(entity, key, id, options)
      // The row as it reads back: what the daemon saw last.
      after = outcome?.row
      afterCustom = outcome?.custom
    }
    // Its own key, where the local system gave the row one (asked for by the object's id).
    const own = ownKey(entity, key, after)
    this.core.matches.put({ type: entity.type, key: own, fields: object.fields })
    await links.save(id, {
      type: entity.type,
      key: own,
      seen: after === undefined ? undefined : snapshot(entity, after, afterCustom),
      origin: options.origin,
      ...(own === key ? {} : { inserted: true }),
    })
    const from = options.origin ?? (await links.originOf(id))
    await this.core.awaiting.written(object, from, unresolved)
  }

  /** The object's state now, written again: the record changed under the last try. */
  private async writeAgain(
    entity: EntityMapping,
    key: string,
    id: ObjectId,
    options: WriteRowOptions,
  ): Promise<void> {
    const tries = (options.tries ?? 0) + 1
    if (tries > MAX_WRITE_TRIES) {
      throw new Error(`${entity.table} ${key} kept changing while it was written`)
    }
    const merged = await this.core.store.get(id)
    if (merged === undefined || merged.deleted) return
    return this.writeRow(entity, key, id, merged, { ...options, tries })
  }
}
