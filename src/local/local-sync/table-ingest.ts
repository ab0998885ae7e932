// Taking in a whole table (the first run, housekeeping, a lost change capture): rows are
// read in pages. A new row is made an object with the others of its page in one store
// commit, which also saves their links; a linked row as last seen is skipped; the rest
// (an edit, a reference to a record not taken in yet, a file, a record the peer keeps)
// take the row-by-row way.
import type { ObjectId } from '../../model/index.ts'
import type { StoredObject } from '../../store/index.ts'
import type { LocalRow, StoredCustomValues } from '../connector.ts'
import { FROM_LOCAL_SYSTEM, recordId, type LocalSyncCore } from './core.ts'
import type { SaveLinkOptions } from './links.ts'
import { RowProblem, type EntityMapping } from '../mapping/index.ts'
import { sameSnapshot, snapshot, withoutNulls, type ReadRow } from './row-snapshot.ts'
import { readAhead, readCustomOf } from './row-reader.ts'

/** How often, in rows, a table being read reports its progress ('ingest-progress' events). */
export const INGEST_PROGRESS_ROWS = 1000
/** Rows taken in at once (new ones in one store commit). */
const PAGE_ROWS = 500
/** Rows taken in row by row at once: the store commits them in groups. */
const ROW_CONCURRENCY = 64

/** What the table reader hands to ingest's row-by-row path. */
export interface RowByRow {
  ingestRow(entity: EntityMapping, key: string, row: LocalRow): Promise<void>
  /** The store refused the row: reported where it is the row's problem, else thrown. */
  refused(entity: EntityMapping, key: string, error: unknown): void
}

/**
 * Pages taken in two at a time: while one page's objects are made (their facets encoded
 * on the store's worker thread, then committed), the next is read and sorted. Each page
 * makes its objects only once the page before it is done, so they are made in order.
 */
class PagePipeline {
  private readonly taking: Promise<void>[] = []
  private failure: { error: unknown } | undefined

  constructor(
    private readonly takePage: (
      page: [string, LocalRow][],
      after: Promise<void> | undefined,
    ) => Promise<void>,
  ) {}

  async add(page: [string, LocalRow][]): Promise<void> {
    if (this.taking.length >= 2) await this.taking.shift()
    const taken = this.takePage(page, this.taking.at(-1))
    // Held until awaited in order; the first failure is kept for finish.
    taken.catch((error: unknown) => (this.failure ??= { error }))
    this.taking.push(taken)
  }

  async finish(): Promise<void> {
    await Promise.allSettled(this.taking)
    this.taking.length = 0
    if (this.failure !== undefined) throw this.failure.error
  }
}

/** A key that is bytes as bad rows name it: an SQL blob literal, x'0102'. */
/** The bad row's key that stands for a table's rows without a key. */
const KEYLESS = '(no key)'

function bytesKey(bytes: Uint8Array): string {
  return `x'${Buffer.from(bytes).toString('hex')}'`
}

/** A new row, read, to become an object. */
interface NewRow {
  key: string
  row: LocalRow
  custom: StoredCustomValues | undefined
  read: ReadRow
}

export class TableIngest {
  constructor(
    private readonly core: LocalSyncCore,
    private readonly rowByRow: RowByRow,
  ) {}

  /** Takes in every row of the table; returns the keys it has. */
  async ingestTable(entity: EntityMapping): Promise<Set<string>> {
    const present = new Set<string>()
    const bytesKeys = new Set<string>()
    let rows = 0
    let keyless = 0
    let page: [string, LocalRow][] = []
    const pages = new PagePipeline((taken, after) => this.takePage(entity, taken, after))
    try {
      for await (const row of this.core.connector.readAll(entity)) {
        const key = row[entity.key]
        if (key === null || key === undefined) {
          keyless++
          continue
        }
        if (key instanceof Uint8Array) {
          // A key that is bytes can't be linked: read back by its text it is "gone", and
          // the next edit of the row would delete the object made of it. One linked by its
          // text before (an earlier version took such rows in) is not a removed row either.
          present.add(String(key))
          bytesKeys.add(bytesKey(key))
          this.core.rows.report(
            entity,
            bytesKey(key),
            entity.key,
            `${entity.key}: expected text, got bytes`,
          )
          continue
        }
        present.add(String(key))
        page.push([String(key), row])
        if (page.length >= PAGE_ROWS) {
          await pages.add(page)
          page = []
        }
        if (++rows % INGEST_PROGRESS_ROWS === 0) this.progress(entity.table, rows, false)
      }
      await pages.add(page)
    } catch (error) {
      // Every page ends before the table does, taken in or failed.
      await pages.finish().catch(() => undefined)
      throw error
    }
    await pages.finish()
    // Rows with no key can't be synced (nothing names them): one bad row says how many.
    if (keyless > 0) {
      this.core.rows.report(
        entity,
        KEYLESS,
        entity.key,
        `${keyless.toLocaleString('en')} ${keyless === 1 ? 'row has' : 'rows have'} no ${entity.key} (NULL): not synced until given one`,
      )
    } else {
      this.core.rows.clear(entity, KEYLESS)
    }
    // Rows keyed by bytes listed before and gone (or given a text key) since.
    for (const bad of this.core.rows.badRows()) {
      if (bad.table === entity.table && bad.column === entity.key && !bytesKeys.has(bad.key)) {
        if (bad.key.startsWith("x'")) this.core.rows.clear(entity, bad.key)
      }
    }
    this.progress(entity.table, rows, true)
    return present
  }

  private progress(table: string, rows: number, done: boolean): void {
    this.core.events.emit('ingest-progress', table, rows, done)
  }

  /** Sorts the page's rows, then, once the page `after` is taken in, takes them in. */
  private async takePage(
    entity: EntityMapping,
    page: readonly [string, LocalRow][],
    after: Promise<void> | undefined,
  ): Promise<void> {
    const { links, rows, rules } = this.core
    const plain = !entity.fields.some((mapped) => mapped.type === 'content')
    const created: NewRow[] = []
    const rowByRow: [string, LocalRow][] = []
    // The links of the page's linked rows, read at once.
    const seen = new Map(
      await Promise.all(
        page.flatMap(([key]) => {
          const id = links.objectOf(entity.type, key)
          if (id === undefined) return []
          const read = links.read(id).then(
            (link) => link?.seen,
            () => undefined, // unreadable: row by row, which reports it
          )
          return [read.then((link) => [key, link] as const)]
        }),
      ),
    )
    // Rows the daemon inserted with keys the local system gave, whose links a crash lost:
    // linked again one by one (ingestRow), not made second objects.
    const inserted = await this.core.connector.objectsOfKeys?.(
      entity,
      page.flatMap(([key]) => (links.objectOf(entity.type, key) === undefined ? [key] : [])),
    )
    // Custom fields a page at once where the local system reads many at once (a server:
    // one round trip a page, not one a row).
    const customs = entity.customFieldsTable
      ? await readAhead(
          this.core.connector,
          page.map(([key]) => [entity, key]),
        )
      : undefined
    for (const [key, row] of page) {
      if (links.isDropping(entity.type, key)) continue
      const id = links.objectOf(entity.type, key)
      const prefetched = customs?.get(recordId(entity, key))
      const custom =
        prefetched !== undefined
          ? prefetched.custom
          : await readCustomOf(this.core.connector, entity, key)
      if (id !== undefined) {
        // As last seen: the daemon's own write, or unchanged since read.
        const kept = await rules.keptByPeer(id, entity.type)
        if (!kept && sameSnapshot(seen.get(key), snapshot(entity, row, custom))) continue
        rowByRow.push([key, row])
        continue
      }
      if (!plain || inserted?.has(key) === true) {
        rowByRow.push([key, row])
        continue
      }
      const read = rows.readOrReport(entity, key, row, custom)
      if (read === undefined) continue // reported; read again when it changes
      if (read.unresolved === true) rowByRow.push([key, row])
      else created.push({ key, row, custom, read })
    }
    // The new rows' objects are made now and committed once the page before is done.
    await this.create(entity, created, after)
    await after?.catch(() => undefined) // its failure is raised where it is awaited
    await this.rowByRowAll(entity, rowByRow)
  }

  /** Takes the rows in one by one, many at a time; a row that fails is logged. */
  private async rowByRowAll(
    entity: EntityMapping,
    rows: readonly (readonly [string, LocalRow])[],
  ): Promise<void> {
    for (let start = 0; start < rows.length; start += ROW_CONCURRENCY) {
      await Promise.all(
        rows.slice(start, start + ROW_CONCURRENCY).map(([key, row]) =>
          this.rowByRow.ingestRow(entity, key, row).catch((error: unknown) => {
            this.core.log.error(
              { table: entity.table, key, err: error },
              'could not take the row in; it is read again when it changes',
            )
          }),
        ),
      )
    }
  }

  /** The new rows made objects in one commit, with their links. */
  private async create(
    entity: EntityMapping,
    created: readonly NewRow[],
    after: Promise<void> | undefined,
  ): Promise<void> {
    if (created.length === 0) return
    const { links, matches, rows, store } = this.core
    let saves: [ObjectId, SaveLinkOptions][] = []
    const linksOf = (made: readonly (StoredObject | Error)[]) => {
      saves = made.flatMap((object, index) =>
        object instanceof Error
          ? []
          : [
              [
                object.id,
                {
                  type: entity.type,
                  key: created[index]!.key,
                  seen: snapshot(entity, created[index]!.row, created[index]!.custom),
                },
              ] as [ObjectId, SaveLinkOptions],
            ],
      )
      return links.entriesOf(saves)
    }
    let made: (StoredObject | Error)[]
    try {
      made = await store.createMany(
        created.map(({ read }) => ({
          input: {
            type: entity.type,
            fields: withoutNulls(read.fields),
            ...(read.custom === undefined ? {} : { custom: read.custom }),
          },
          options: FROM_LOCAL_SYSTEM,
        })),
        linksOf,
        after,
      )
    } catch (error) {
      // Refused as a whole (the store could not write): row by row, each failure its own.
      this.core.log.warn(
        { table: entity.table, rows: created.length, err: error },
        'could not take the rows in at once; taking them in one by one',
      )
      await after?.catch(() => undefined)
      await this.rowByRowAll(
        entity,
        created.map(({ key, row }) => [key, row]),
      )
      return
    }
    links.saved(saves)
    for (const [index, object] of made.entries()) {
      const { key } = created[index]!
      if (object instanceof Error) {
        try {
          this.rowByRow.refused(entity, key, object)
        } catch (error) {
          this.core.log.error(
            { table: entity.table, key, err: error },
            'could not take the row in; it is read again when it changes',
          )
        }
        continue
      }
      matches.put({ type: entity.type, key, fields: object.fields })
      rows.clear(entity, key)
    }
  }

  /** The local records as matching sees them, read once at start. */
  async indexLocalRecords(): Promise<void> {
    for (const entity of this.core.mapping.values()) {
      for await (const row of this.core.connector.readAll(entity)) {
        const key = row[entity.key]
        if (key === null || key === undefined || key instanceof Uint8Array) continue
        try {
          const read = this.core.rows.read(entity, row, undefined)
          this.core.matches.put({
            type: entity.type,
            key: String(key),
            fields: withoutNulls(read.fields),
          })
        } catch (error) {
          if (!(error instanceof RowProblem)) throw error
        }
      }
    }
  }
}
