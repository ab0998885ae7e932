// The bridge between the local system and the object store, both ways:
//
//   ingest:  rows changed in the local system (by anyone) → mapping → store edits
//   project: objects changed in the store (here or by peers) → mapping → local writes
//
// Each record is linked to its object (`local/link/<type>/<key>` and `local/object/<id>`
// in the store's sync state), with the row as the daemon last wrote or read it. A change
// whose row still reads the same is the daemon's own write coming back:
// it is not ingested again, so nothing echoes. A row the mapping can't read is reported
// with table, key and column, and skipped; it is read again when it changes.
import { ObjectSyncError, isObjectSyncError } from '../errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import { TypedEvents, type EventMap, type Listener } from '../typed-events.ts'
import type { FieldValue, InstanceId, ObjectId, ObjectType } from '../model/index.ts'
import type { FeedEntry, ObjectStore, StoredObject } from '../store/index.ts'
import { actionsFor, type PeerActions } from './actions.ts'
import { GROUP_MEMBERS, type Connector, type CustomValues, type LocalRow } from './connector.ts'
import { MatchIndex } from './matching.ts'
import {
  RowProblem,
  readField,
  writeField,
  contentHash,
  type EntityMapping,
  type LocalValue,
  type ReferenceResolver,
} from './mapping.ts'

export interface LocalSyncOptions {
  store: ObjectStore
  connector: Connector
  mapping: Map<ObjectType, EntityMapping>
  instanceId: InstanceId
  logger?: Logger
  /** How often the local system's change log is read (changes show up within this). */
  pollMs?: number
  /** What each peer's changes may do here, and which groups its share names per type. */
  peers?: ReadonlyMap<InstanceId, LocalPeerSettings>
  /**
   * How often everything is reconciled in full (every row read against the store, every
   * linked object written again where it differs, failed writes retried). Default 24 h.
   */
  housekeepingMs?: number
}

export interface LocalPeerSettings {
  actions?: PeerActions
  /** The `groups` rules of the peer's share, per type: records in them are in its scope. */
  shareGroups?: Partial<Record<ObjectType, readonly string[]>>
}

export interface BadRow {
  table: string
  key: string
  /** The column that could not be read, when one is to blame. */
  column: string | undefined
  problem: string
}

interface ObjectLink {
  key: string
  /**
   * The row's mapped columns and custom fields as the daemon last wrote or read them:
   * what is different now is a local edit. Absent when the row was removed or must be
   * read again in full (a reference in it could not be resolved yet).
   */
  seen?: RowSnapshot | undefined
}

interface RowSnapshot {
  columns: Record<string, string | null>
  custom: CustomValues | undefined
}

const CHANGES_CURSOR = 'local/changes'
const PROJECTED_CURSOR = 'local/projected'
const INITIALIZED = 'local/initialized'
/** `local/merged/<id>`: the object was unified into another (the value names it). */
const MERGED_PREFIX = 'local/merged/'
/** `local/retry/<id>`: writing the object failed; the value is the peer it came from. */
const RETRY_PREFIX = 'local/retry/'
/** File objects waiting for their content before they are written: id → the sender. */
const CONTENT_WAIT_PREFIX = 'local/content-wait/'
/** `local/groups/<key>`: the record's group membership as last announced to the peers. */
const GROUPS_PREFIX = 'local/groups/'
/** `local/declined/<id>`: an object a peer's `create: export` kept out of the local system. */
const DECLINED_PREFIX = 'local/declined/'
/** The longest period a Node timer takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** `local/origin/<id>`: the peer whose object became this local record. */
const ORIGIN_PREFIX = 'local/origin/'
const DEFAULT_POLL_MS = 50
/** Rows taken in at once when reading a whole table (first run, housekeeping). */
const INGEST_CONCURRENCY = 64
/** How often, in rows, a table being read reports its progress ('ingest-progress' events). */
export const INGEST_PROGRESS_ROWS = 1000
/** Store edits taken in from the local system: the projector skips them. */
const FROM_LOCAL_SYSTEM = { fromLocalSystem: true } as const
export const DEFAULT_HOUSEKEEPING_MS = 24 * 60 * 60 * 1000
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface LocalSyncEvents extends EventMap {
  /**
   * Rows of the local system read (at start and at housekeeping): every
   * INGEST_PROGRESS_ROWS rows of a table, and once with `done` at the table's end.
   */
  'ingest-progress': [table: string, rows: number, done: boolean]
  /** An object entered or left the review queue. */
  review: [object: ObjectId]
}

export class LocalSync {
  private readonly log: Logger
  private readonly byTable = new Map<string, EntityMapping>()
  private readonly problems = new Map<string, BadRow>()
  private work: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private housekeepingTimer: NodeJS.Timeout | undefined
  private unsubscribe: (() => void) | undefined
  private projectQueued = false
  private housekeepingQueued = false
  private opened = false
  private stopped = false
  /** Link lookups made while mapping one record (references resolve through them). */
  private readonly keyToObject = new Map<string, ObjectId>()
  private readonly objectToKey = new Map<ObjectId, string>()
  private readonly matches = new MatchIndex()
  /** The local system's group membership by record key (what `groups` rules read). */
  private readonly groupsByKey = new Map<string, Set<string>>()
  private readonly actionsByPeer = new Map<InstanceId, PeerActions>()
  /** Objects unified into another on a match: merged id → the id kept. */
  private readonly mergedInto = new Map<ObjectId, ObjectId>()
  /** The peer whose object became each record (`local/origin/<id>`), for actions and matching. */
  private readonly origins = new Map<ObjectId, InstanceId>()
  private readonly events: TypedEvents<LocalSyncEvents>
  /** Rows read with a reference to a record not taken in yet, to read again once. */
  private readonly unresolved = new Map<string, [EntityMapping, string]>()

  constructor(private readonly options: LocalSyncOptions) {
    this.log = (options.logger ?? silentLogger).child('local')
    this.events = new TypedEvents(this.log)
    for (const entity of options.mapping.values()) this.byTable.set(entity.table, entity)
    for (const [peer, settings] of options.peers ?? []) {
      if (settings.actions !== undefined) this.actionsByPeer.set(peer, settings.actions)
    }
  }

  /**
   * The groups (static selections) the object's local record is in, for scope rules;
   * undefined when the object has no local record.
   */
  groupsOf(id: ObjectId): ReadonlySet<string> | undefined {
    // An object unified into another is in scope as the one kept (so its delete goes
    // where the kept object goes).
    const key = this.objectToKey.get(this.mergedInto.get(id) ?? id)
    if (key === undefined) return undefined
    return this.groupsByKey.get(key) ?? NO_GROUPS
  }

  /** Rows the mapping could not read, as last seen; each leaves when its row reads again. */
  badRows(): BadRow[] {
    return [...this.problems.values()]
  }

  /**
   * Opens the local system and reads what the bridge keeps in memory (links, group
   * membership as last announced, the records as matching sees them), without taking
   * anything in: enough for `plan`. Opening a SQLite file creates its change log and
   * triggers if they are missing. `start` opens first; the sync engine must not start
   * sessions before `open` has finished, since `groupsOf` reads what it loads.
   */
  async open(): Promise<void> {
    if (this.opened) return
    await this.options.connector.open([...this.options.mapping.values()])
    this.opened = true
    await this.loadLinks()
    for await (const [key, value] of this.options.store.scanSyncState(GROUPS_PREFIX)) {
      const groups = JSON.parse(decoder.decode(value)) as string[]
      this.groupsByKey.set(key.slice(GROUPS_PREFIX.length), new Set(groups))
    }
    for await (const [key, value] of this.options.store.scanSyncState(ORIGIN_PREFIX)) {
      this.origins.set(
        key.slice(ORIGIN_PREFIX.length) as ObjectId,
        decoder.decode(value) as InstanceId,
      )
    }
    for await (const [key, value] of this.options.store.scanSyncState(MERGED_PREFIX)) {
      this.mergedInto.set(
        key.slice(MERGED_PREFIX.length) as ObjectId,
        decoder.decode(value) as ObjectId,
      )
    }
    await this.indexLocalRecords()
  }

  async start(): Promise<void> {
    const { store } = this.options
    await this.open()
    if ((await store.getSyncState(INITIALIZED)) === undefined) {
      // First run: the change log only knows what changed since the triggers exist.
      await this.run(() => this.ingestEverything())
      await store.putSyncState(INITIALIZED, encoder.encode('1'))
    }
    await this.run(() => this.ingestChanges())
    // Membership changed while the daemon was stopped (or in a crash before it was
    // announced) is found against what was last announced.
    await this.run(() => this.loadGroups())
    await this.run(() => this.projectChanges())
    const unsubscribeFeed = store.on('feed', () => this.queueProjection())
    const unsubscribeBlobs = store.blobs.on('published', () => {
      void this.run(() => this.projectWaiting())
    })
    this.unsubscribe = () => {
      unsubscribeFeed()
      unsubscribeBlobs()
    }
    // Content that arrived while the daemon was stopped (or just before this start).
    await this.run(() => this.projectWaiting())
    this.timer = setInterval(() => {
      void this.run(() => this.ingestChanges())
    }, this.options.pollMs ?? DEFAULT_POLL_MS)
    this.timer.unref()
    this.housekeepingTimer = setInterval(
      () => {
        // One run at a time: a tick while one is queued or running is skipped.
        if (!this.housekeepingQueued) void this.housekeeping()
      },
      Math.min(this.options.housekeepingMs ?? DEFAULT_HOUSEKEEPING_MS, MAX_TIMER_MS),
    )
    this.housekeepingTimer.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    clearInterval(this.housekeepingTimer)
    this.unsubscribe?.()
    await this.work
    if (this.opened) await this.options.connector.close()
    this.opened = false
  }

  /** Resolves once everything queued so far has been ingested and projected. */
  async settled(): Promise<void> {
    await this.run(() => this.ingestChanges())
    await this.run(() => this.projectChanges())
  }

  /**
   * A full reconcile of the local system against the store: every row is read and
   * compared with what was last seen (edits that escaped the change log are taken in,
   * rows gone without a trace are deletes), group membership is read again, every
   * linked object is written again where its record differs, and objects whose write
   * failed are tried again. Runs every `housekeepingMs`; callable at any time.
   */
  async housekeeping(): Promise<void> {
    this.housekeepingQueued = true
    await this.run(async () => {
      this.housekeepingQueued = false
      const started = Date.now()
      await this.ingestChanges()
      await this.ingestEverything({ deletes: true })
      await this.loadGroups()
      let rewritten = 0
      for await (const [key, value] of this.options.store.scanSyncState('local/object/')) {
        const id = key.slice('local/object/'.length) as ObjectId
        const link = JSON.parse(decoder.decode(value)) as ObjectLink
        if (link.seen === undefined) continue
        const projection = await this.decide(id, await this.originOf(id))
        if (projection.kind !== 'update') continue
        const { entity } = projection
        const row = await this.options.connector.read(entity, projection.key)
        if (row === undefined) continue
        const custom = entity.customFieldsTable
          ? await this.options.connector.readCustom(projection.key)
          : undefined
        if (this.localForm(entity, projection.object, row, custom).unchanged) continue
        await this.execute(projection)
        rewritten++
      }
      const retries: [string, InstanceId | undefined][] = []
      for await (const [key, value] of this.options.store.scanSyncState(RETRY_PREFIX)) {
        const from = decoder.decode(value)
        retries.push([key, from === '' ? undefined : (from as InstanceId)])
      }
      for (const [key, from] of retries) {
        const id = key.slice(RETRY_PREFIX.length) as ObjectId
        await this.options.store.updateSyncState([[key, undefined]])
        try {
          await this.execute(await this.decide(id, from))
        } catch (error) {
          await this.options.store.putSyncState(key, encoder.encode(from ?? ''))
          this.log.error({ object: id, err: error }, 'could not write the object again')
        }
      }
      this.log.info(
        { rewritten, retried: retries.length, ms: Date.now() - started },
        'housekeeping done',
      )
    })
  }

  /** Runs one piece of work after the others: ingest and projection never interleave. */
  private run(task: () => Promise<void>): Promise<void> {
    const next = this.work.then(async () => {
      if (this.stopped) return
      try {
        await task()
      } catch (error) {
        this.log.error({ err: error }, 'local system sync failed; retrying at the next change')
      }
    })
    this.work = next
    return next
  }

  private queueProjection(): void {
    if (this.projectQueued) return
    this.projectQueued = true
    void this.run(async () => {
      this.projectQueued = false
      await this.projectChanges()
    })
  }

  // ── ingest ─────────────────────────────────────────────────────────────────────────

  /** Subscribes to the local sync's events (LocalSyncEvents); returns unsubscribe. */
  on<Name extends keyof LocalSyncEvents & string>(
    name: Name,
    listener: Listener<LocalSyncEvents[Name]>,
  ): () => void {
    return this.events.on(name, listener)
  }

  private ingestProgress(table: string, rows: number, done: boolean): void {
    this.events.emit('ingest-progress', table, rows, done)
  }

  /**
   * Takes in every row (rows as last seen are skipped cheaply). With `deletes`, linked
   * records whose row is gone are taken in as deletes too.
   */
  private async ingestEverything(options: { deletes?: boolean } = {}): Promise<void> {
    // Organizations before the persons and transactions that refer to them.
    const order: ObjectType[] = ['organization', 'person', 'transaction', 'file']
    for (const entity of order.flatMap((type) => this.options.mapping.get(type) ?? [])) {
      const present = new Set<string>()
      let rows = 0
      // Rows of one table are independent: many in flight let the store commit them in
      // groups (one at a time, each waits for its own LevelDB write).
      const inFlight = new Set<Promise<void>>()
      for await (const row of this.options.connector.readAll(entity)) {
        const key = row[entity.key]
        if (key === null || key === undefined) continue
        present.add(String(key))
        const task: Promise<void> = this.ingestRow(entity, String(key), row)
          .catch((error: unknown) => {
            this.log.error(
              { table: entity.table, key, err: error },
              'could not take the row in; it is read again when it changes',
            )
          })
          .finally(() => inFlight.delete(task))
        inFlight.add(task)
        if (inFlight.size >= INGEST_CONCURRENCY) await Promise.race(inFlight)
        if (++rows % INGEST_PROGRESS_ROWS === 0) this.ingestProgress(entity.table, rows, false)
      }
      await Promise.all(inFlight)
      this.ingestProgress(entity.table, rows, true)
      if (options.deletes !== true) continue
      for (const [id, key] of [...this.objectToKey]) {
        if (this.keyToObject.get(linkId(entity.type, key)) !== id || present.has(key)) continue
        const link = await this.objectLink(id)
        if (link?.seen !== undefined) await this.ingestRow(entity, key)
      }
    }
    await this.retryUnresolved()
  }

  private async readCursor(key: string): Promise<number> {
    const stored = await this.options.store.getSyncState(key)
    const cursor = Number(decoder.decode(stored ?? new Uint8Array()))
    return Number.isSafeInteger(cursor) ? cursor : 0
  }

  private async ingestChanges(): Promise<void> {
    const { connector, store } = this.options
    let cursor = await this.readCursor(CHANGES_CURSOR)
    for (;;) {
      const changes = await connector.changesSince(cursor, 1000)
      if (changes.length === 0) return
      // A row changed many times is read once, as it is now.
      const seen = new Set<string>()
      const groupChanges: string[] = []
      for (const change of changes) {
        const id = `${change.table}\u0000${change.key}`
        if (seen.has(id)) continue
        seen.add(id)
        if (change.table === GROUP_MEMBERS) {
          groupChanges.push(change.key)
          continue
        }
        if (change.table === 'custom_fields') {
          for (const entity of this.options.mapping.values()) {
            if (entity.customFieldsTable && this.keyToObject.has(linkId(entity.type, change.key))) {
              await this.ingestRow(entity, change.key)
            }
          }
          continue
        }
        const entity = this.byTable.get(change.table)
        if (entity === undefined) continue
        try {
          await this.ingestRow(entity, change.key)
        } catch (error) {
          // One record that can't be taken in must not hold up the others.
          this.log.error(
            { table: entity.table, key: change.key, err: error },
            'could not take the row in; it is read again when it changes',
          )
        }
      }
      // Membership after the rows: a record deleted together with its membership is
      // deleted while the peers still have it in scope, so the delete reaches them.
      for (const key of groupChanges) {
        try {
          await this.readGroups(key)
        } catch (error) {
          this.log.error(
            { table: GROUP_MEMBERS, key, err: error },
            'could not take the group change in; it is read again at housekeeping',
          )
        }
      }
      await this.retryUnresolved()
      cursor = changes[changes.length - 1]!.seq
      await store.putSyncState(CHANGES_CURSOR, encoder.encode(String(cursor)))
      await connector.acknowledge(cursor)
    }
  }

  private async ingestRow(entity: EntityMapping, key: string, known?: LocalRow): Promise<void> {
    const { connector, store } = this.options
    const row = known ?? (await connector.read(entity, key))
    const objectId = this.keyToObject.get(linkId(entity.type, key))
    if (objectId !== undefined && (await this.keptByPeer(objectId, entity.type))) {
      // The record is the peer's (maintain: import): a local edit or delete is written
      // over with the merged state instead of being taken in.
      const link = await this.objectLink(objectId)
      const custom = entity.customFieldsTable ? await connector.readCustom(key) : undefined
      const now = row === undefined ? undefined : snapshot(entity, row, custom)
      if (now !== undefined && sameSnapshot(link?.seen, now)) return // our own write
      const object = await store.get(objectId)
      if (object !== undefined && !object.deleted) {
        this.log.info(
          { table: entity.table, key },
          'local edit of a record the peer keeps (maintain: import); written over',
        )
        await this.writeRow(entity, key, objectId, object, { overwrite: true })
      }
      return
    }
    if (row === undefined) {
      this.problems.delete(problemId(entity, key))
      this.matches.remove(entity.type, key)
      if (objectId !== undefined) {
        const object = await store.get(objectId)
        if (object !== undefined && !object.deleted) {
          await store.delete(objectId, FROM_LOCAL_SYSTEM)
        }
      }
      return
    }
    const custom = entity.customFieldsTable ? await connector.readCustom(key) : undefined
    const now = snapshot(entity, row, custom)
    const link = objectId === undefined ? undefined : await this.objectLink(objectId)
    if (sameSnapshot(link?.seen, now)) return // our own write, coming back
    const read = this.readOrReport(entity, key, row, custom)
    if (read === undefined) return
    if (!(await this.storeContent(entity, key, row))) return
    // A reference to a record not taken in yet: apply the rest, but leave the link
    // without what was seen, so the row is read again (and the reference resolved) once
    // the rest of the change log is in, and at its next change or write.
    const seen = read.unresolved === true ? undefined : now
    if (read.unresolved === true) this.unresolved.set(problemId(entity, key), [entity, key])
    try {
      if (objectId === undefined) {
        const fields = withoutNulls(read.fields)
        this.matches.put({ type: entity.type, key, fields })
        const created = await store.create(
          {
            type: entity.type,
            fields,
            ...(read.custom === undefined ? {} : { custom: read.custom }),
          },
          FROM_LOCAL_SYSTEM,
        )
        await this.saveLink(entity.type, key, created.id, seen)
      } else {
        const object = await store.get(objectId)
        if (object === undefined) return
        // Only what changed in the row since the daemon last saw it is a local edit; the
        // rest may be older than the store (a peer's change not written here yet).
        this.matches.put({ type: entity.type, key, fields: withoutNulls(read.fields) })
        const patch = diff(object, changedSince(entity, read, row, custom, link?.seen))
        if (patch !== undefined) await store.update(objectId, patch, FROM_LOCAL_SYSTEM)
        await this.saveLink(entity.type, key, objectId, seen)
      }
      this.problems.delete(problemId(entity, key))
    } catch (error) {
      if (isObjectSyncError(error, 'INVALID_OBJECT')) {
        const path = String((error.details as { path?: string } | undefined)?.path ?? '')
        const field = path.split('.').pop()
        const column = entity.fields.find((mapped) => mapped.field === field)?.column
        this.report(entity, key, column, error.message)
        return
      }
      if (isObjectSyncError(error, 'OBJECT_DELETED')) {
        this.log.info(
          { table: entity.table, key },
          'row changed here, object deleted elsewhere; not restored',
        )
        return
      }
      throw error
    }
  }

  /**
   * Puts the file bytes of the row's content columns in the blob store, where the file
   * object's sha256 names them. Content over the limit is reported as the row's problem
   * and nothing of it is kept (false: the row is not taken in).
   */
  private async storeContent(entity: EntityMapping, key: string, row: LocalRow): Promise<boolean> {
    for (const mapped of entity.fields) {
      const bytes = row[mapped.column]
      if (mapped.type !== 'content' || !(bytes instanceof Uint8Array)) continue
      try {
        await this.options.store.blobs.put(bytes)
      } catch (error) {
        if (!isObjectSyncError(error, 'BLOB_TOO_LARGE')) throw error
        this.report(entity, key, mapped.column, error.message)
        return false
      }
    }
    return true
  }

  /**
   * Projects the object's latest change. One object the local system refuses must not
   * hold up all the others: it is tried again at housekeeping (or at its next change).
   */
  private async projectOrRetryLater(id: ObjectId, from: InstanceId | undefined): Promise<void> {
    try {
      await this.execute(await this.decide(id, from))
    } catch (error) {
      await this.options.store.putSyncState(`${RETRY_PREFIX}${id}`, encoder.encode(from ?? ''))
      this.log.error({ object: id, err: error }, 'could not write the object into the local system')
    }
  }

  /** Writes the file objects that waited for their content, where it is here now. */
  private async projectWaiting(): Promise<void> {
    const { store } = this.options
    const waiting: [string, InstanceId | undefined][] = []
    for await (const [key, value] of store.scanSyncState(CONTENT_WAIT_PREFIX)) {
      const from = decoder.decode(value)
      waiting.push([key, from === '' ? undefined : (from as InstanceId)])
    }
    for (const [key, from] of waiting) {
      const id = key.slice(CONTENT_WAIT_PREFIX.length) as ObjectId
      const object = await store.get(id)
      const entity = object === undefined ? undefined : this.options.mapping.get(object.type)
      if (object !== undefined && entity !== undefined) {
        if (!(await this.contentHeld(entity, object))) continue // not yet
      }
      await store.updateSyncState([[key, undefined]])
      await this.projectOrRetryLater(id, from)
    }
  }

  /** Reads rows with unresolved references again (the records they name may be in now). */
  private async retryUnresolved(): Promise<void> {
    const rows = [...this.unresolved.values()]
    this.unresolved.clear()
    for (const [entity, key] of rows) {
      try {
        await this.ingestRow(entity, key)
      } catch (error) {
        this.log.error({ table: entity.table, key, err: error }, 'could not take the row in')
      }
    }
    // What is still unresolved waits for its next change.
    this.unresolved.clear()
  }

  private readRow(entity: EntityMapping, row: LocalRow, custom: CustomValues | undefined): ReadRow {
    const fields: Record<string, FieldValue | null> = {}
    const refs = this.resolver()
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
  private readOrReport(
    entity: EntityMapping,
    key: string,
    row: LocalRow,
    custom: CustomValues | undefined,
  ): ReadRow | undefined {
    try {
      return this.readRow(entity, row, custom)
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error
      this.report(entity, key, error.column, error.message)
      return undefined
    }
  }

  private report(
    entity: EntityMapping,
    key: string,
    column: string | undefined,
    problem: string,
  ): void {
    const bad = { table: entity.table, key, column, problem }
    this.problems.set(problemId(entity, key), bad)
    this.log.warn(
      bad,
      'row skipped: the mapping could not read it; it is read again when it changes',
    )
  }

  // ── projection ─────────────────────────────────────────────────────────────────────

  private async projectChanges(): Promise<void> {
    const { store } = this.options
    let cursor = await this.readCursor(PROJECTED_CURSOR)
    for (;;) {
      const entries = await store.readFeed(cursor, 1000)
      if (entries.length === 0) return
      for (const [id, from] of latestSenders(entries, this.options.instanceId)) {
        await this.projectOrRetryLater(id, from)
      }
      cursor = entries[entries.length - 1]!.seq
      await store.putSyncState(PROJECTED_CURSOR, encoder.encode(String(cursor)))
    }
  }

  /**
   * What projecting the object's latest change (made here, or sent by `from`) does to the
   * local system, decided by the sending peer's actions. Reads only: `plan` shows these
   * without writing, and `execute` carries them out.
   */
  private async decide(id: ObjectId, from: InstanceId | undefined): Promise<Projection> {
    const { store } = this.options
    const object = await store.get(id)
    const entity = object === undefined ? undefined : this.options.mapping.get(object.type)
    if (object === undefined || entity === undefined) return { kind: 'none', id }
    const actions = actionsFor(this.actionsByPeer, from, object.type)
    const link = await this.objectLink(id)
    const base = { id, entity, object, from }
    if (object.deleted) {
      if (link === undefined) return { kind: 'none', id }
      // Deleted here (the row is gone already), or a delete arriving for a row that is.
      const row = await this.options.connector.read(entity, link.key)
      if (row === undefined) return { kind: 'none', id }
      if (actions.delete === 'delete') return { ...base, kind: 'delete', key: link.key }
      if (actions.delete === 'leave-group') {
        const named = this.shareGroups(from, object.type)
        const groups = [...(this.groupsByKey.get(link.key) ?? [])].filter((g) => named.has(g))
        return groups.length === 0
          ? { kind: 'none', id }
          : { ...base, kind: 'leave-group', key: link.key, groups }
      }
      if (!entity.fields.some((mapped) => mapped.field === 'archived')) {
        return { ...base, kind: 'skip', key: link.key, reason: `${entity.table} can not archive` }
      }
      return { ...base, kind: 'archive', key: link.key }
    }
    if (link !== undefined) {
      if (from !== undefined && actions.maintain === 'export') {
        return { ...base, kind: 'keep-local', key: link.key }
      }
      return { ...base, kind: 'update', key: link.key }
    }
    if (this.mergedInto.has(id)) return { kind: 'none', id }
    if (from !== undefined && actions.create === 'export') {
      return { ...base, kind: 'skip', key: undefined, reason: 'create: export' }
    }
    // Kept out once by a peer's `create: export`, it stays out when it changes later.
    if (from === undefined && (await store.getSyncState(`${DECLINED_PREFIX}${id}`)) !== undefined) {
      return { ...base, kind: 'skip', key: undefined, reason: 'create: export' }
    }
    if (actions.create === 'import') return { ...base, kind: 'import' }
    // New here: is it a record the local system already has (from before pairing)?
    // A record made from another object of the same peer is not a candidate: the peer
    // keeps the two apart (two people of the same name), so they stay two here.
    const candidates = this.matches.find(object.type, object.fields).filter((candidate) => {
      const linked = this.keyToObject.get(linkId(object.type, candidate.key))
      return (
        linked !== undefined &&
        linked !== id &&
        (from === undefined || this.origins.get(linked) !== from)
      )
    })
    if (candidates.length === 0) return { ...base, kind: 'import' }
    // A record already unified with one arriving object is not unified with another: two
    // objects that are distinct elsewhere would become one. A person decides instead.
    const unified =
      candidates.length === 1 &&
      (await store.getSyncState(
        `local/unified/${this.keyToObject.get(linkId(object.type, candidates[0]!.key))!}`,
      )) !== undefined
    if (candidates.length === 1 && !unified) {
      return { ...base, kind: 'link', key: candidates[0]!.key }
    }
    return { ...base, kind: 'review', candidates: candidates.map((candidate) => candidate.key) }
  }

  private async execute(projection: Projection): Promise<void> {
    const { connector, store } = this.options
    if (projection.kind === 'none') return
    const { id, entity, object, from } = projection
    if (
      (projection.kind === 'update' || projection.kind === 'import') &&
      !(await this.contentHeld(entity, object))
    ) {
      // A file whose bytes are still on their way from a peer: written once they are
      // here and verified (see projectWaiting), across restarts too.
      await store.putSyncState(`${CONTENT_WAIT_PREFIX}${id}`, encoder.encode(from ?? ''))
      this.log.debug({ object: id }, 'file waits for its content before it is written')
      return
    }
    switch (projection.kind) {
      case 'update':
        return this.writeRow(entity, projection.key, id, object)
      case 'import':
        // Into the peer's share group first: from the moment the record exists, the
        // peer's further changes are in scope here.
        await this.joinShareGroup(id, object.type, from)
        return this.writeRow(entity, id, id, object, { origin: from })
      case 'link':
        return this.unify(entity, id, projection.key, from)
      case 'review':
        await store.putSyncState(
          `local/review/${id}`,
          encoder.encode(
            JSON.stringify({
              type: object.type,
              candidates: projection.candidates,
              ...(from === undefined ? {} : { from }),
            }),
          ),
        )
        this.log.info(
          { object: id, candidates: projection.candidates.length },
          'several local records match; waiting for review',
        )
        this.reviewChanged(id)
        return
      case 'archive':
        return this.archive(entity, projection.key, id)
      case 'keep-local':
        return this.keepLocal(entity, projection.key, id, object)
      case 'delete':
        await connector.remove(entity, projection.key)
        await this.saveLink(entity.type, projection.key, id, undefined)
        return
      case 'leave-group':
        return this.changeGroups(projection.key, { leave: projection.groups })
      case 'skip':
        if (projection.key === undefined && from !== undefined) {
          await store.putSyncState(`${DECLINED_PREFIX}${id}`, encoder.encode(from))
        }
        this.log.debug({ object: id, from, reason: projection.reason }, 'not written here')
    }
  }

  /** The record joins the first group the peer's share names for the type, if any. */
  private async joinShareGroup(
    key: string,
    type: ObjectType,
    from: InstanceId | undefined,
  ): Promise<void> {
    const [group] = this.shareGroups(from, type)
    if (group !== undefined) await this.changeGroups(key, { join: [group] }, from)
  }

  /**
   * Sets only the archived column: a local edit of the row not taken in yet stays (the
   * object is deleted, so it could not be taken in anyway).
   */
  private async archive(entity: EntityMapping, key: string, id: ObjectId): Promise<void> {
    const { connector } = this.options
    const mapped = entity.fields.find((field) => field.field === 'archived')!
    const before = await connector.read(entity, key)
    if (before === undefined) return
    const archived = writeField(mapped, true, this.resolver())
    if (!sameLocal(before[mapped.column], archived)) {
      await connector.write(entity, key, { [mapped.column]: archived })
    }
    const link = await this.objectLink(id)
    const after = await connector.read(entity, key)
    const custom = entity.customFieldsTable ? await connector.readCustom(key) : undefined
    // Only the archived column is the daemon's write; anything else changed since last
    // seen stays a difference (and is reported as a change to a deleted object).
    const seen = link?.seen ?? (after === undefined ? undefined : snapshot(entity, after, custom))
    if (seen !== undefined && after !== undefined) {
      seen.columns[mapped.column] = snapshot(entity, after, custom).columns[mapped.column] ?? null
    }
    await this.saveLink(entity.type, key, id, seen)
  }

  /**
   * `maintain: export`: this local system is the master of the record. The peer's change
   * is not written here; the record's values are written back over it in the store, so
   * every instance ends with this system's values.
   */
  private async keepLocal(
    entity: EntityMapping,
    key: string,
    id: ObjectId,
    object: StoredObject,
  ): Promise<void> {
    const { connector, store } = this.options
    const row = await connector.read(entity, key)
    if (row === undefined) return
    const custom = entity.customFieldsTable ? await connector.readCustom(key) : undefined
    const read = this.readOrReport(entity, key, row, custom)
    if (read === undefined) return
    const patch = diff(object, read)
    if (patch !== undefined) await store.update(id, patch, FROM_LOCAL_SYSTEM)
  }

  /**
   * The object `id` and the local record `key` (linked to another object) are the same:
   * both instances keep the object with the smaller id, give it the fields only the other
   * has, delete the other and link the record to the one kept — the same choice on every
   * instance, so they converge on one object.
   */
  private async unify(
    entity: EntityMapping,
    id: ObjectId,
    key: string,
    origin?: InstanceId,
  ): Promise<void> {
    const { store } = this.options
    const linked = this.keyToObject.get(linkId(entity.type, key))!
    const [kept, merged] = id < linked ? [id, linked] : [linked, id]
    const [keep, drop] = await Promise.all([store.get(kept), store.get(merged)])
    if (keep === undefined || drop === undefined) return
    const fields = Object.fromEntries(
      Object.entries(drop.fields).filter(([name]) => keep.fields[name] === undefined),
    )
    const custom = Object.fromEntries(
      Object.entries(drop.custom).filter(([name]) => keep.custom[name] === undefined),
    )
    if (Object.keys(fields).length > 0 || Object.keys(custom).length > 0) {
      await store.update(kept, { fields, custom })
    }
    const recordLink = await this.objectLink(linked)
    await store.updateSyncState([
      [`local/object/${merged}`, undefined],
      [`${MERGED_PREFIX}${merged}`, encoder.encode(kept)],
      [`local/unified/${kept}`, encoder.encode(merged)],
      [`local/review/${id}`, undefined],
    ])
    this.objectToKey.delete(merged)
    this.mergedInto.set(merged, kept)
    await this.saveLink(entity.type, key, kept, recordLink?.seen, origin)
    await this.joinShareGroup(key, entity.type, origin)
    if (!drop.deleted) await store.delete(merged)
    this.log.info(
      { kept, merged, table: entity.table, key },
      'matched a local record: one object kept',
    )
    const current = await store.get(kept)
    if (current !== undefined) await this.writeRow(entity, key, kept, current)
  }

  // ── dry run ────────────────────────────────────────────────────────────────────────

  /**
   * What the next run would do, without writing anything: per peer, what its changes not
   * yet written here would link, import, update, archive, delete or take out of groups
   * (or skip, or leave for review); and the local edits not yet taken in, which go to
   * each peer whose scope (`inScope`) takes them. Each list holds at most `limit` items;
   * its `count` is the whole number.
   */
  async plan(options: PlanOptions = {}): Promise<SyncPlan> {
    const limit = options.limit ?? 1000
    // In turn with ingest and projection (so it sees a settled state), errors and all.
    const planned = this.work.then(async () => {
      if (!this.opened) {
        throw new ObjectSyncError(
          'LOCAL_SYSTEM_IO',
          `${this.options.connector.description} is not open`,
        )
      }
      return {
        incoming: await this.planIncoming(limit),
        outgoing: await this.planOutgoing(options, limit),
      }
    })
    this.work = planned.then(
      () => undefined,
      () => undefined,
    )
    return planned
  }

  private async planIncoming(limit: number): Promise<IncomingPlan[]> {
    const { store } = this.options
    const byPeer = new Map<string, IncomingPlan>()
    const add = (projection: Projection) => {
      if (projection.kind === 'none') return
      const peer = projection.from ?? ''
      let entry = byPeer.get(peer)
      if (entry === undefined) {
        entry = { peer: projection.from, ...emptyLists(INCOMING_KINDS) }
        byPeer.set(peer, entry)
      }
      const item: PlanItem = {
        object: projection.id,
        type: projection.object.type,
        table: projection.entity.table,
        ...('key' in projection && projection.key !== undefined ? { key: projection.key } : {}),
        ...(projection.kind === 'review' ? { candidates: projection.candidates } : {}),
        ...(projection.kind === 'leave-group' ? { groups: projection.groups } : {}),
        ...(projection.kind === 'skip' ? { reason: projection.reason } : {}),
      }
      push(entry[projection.kind], item, limit)
    }
    // Each object once, as its latest change (over the whole range) decides.
    const senders = new Map<ObjectId, InstanceId | undefined>()
    let cursor = await this.readCursor(PROJECTED_CURSOR)
    for (;;) {
      const entries = await store.readFeed(cursor, 1000)
      if (entries.length === 0) break
      for (const [id, from] of latestSenders(entries, this.options.instanceId)) {
        senders.delete(id)
        senders.set(id, from)
      }
      cursor = entries[entries.length - 1]!.seq
    }
    for await (const [key, value] of store.scanSyncState(RETRY_PREFIX)) {
      const id = key.slice(RETRY_PREFIX.length) as ObjectId
      const from = decoder.decode(value)
      if (!senders.has(id)) senders.set(id, from === '' ? undefined : (from as InstanceId))
    }
    for (const [id, from] of senders) add(await this.decide(id, from))
    return [...byPeer.values()]
  }

  private async planOutgoing(options: PlanOptions, limit: number): Promise<OutgoingPlan[]> {
    const { connector, store } = this.options
    const initialized = (await store.getSyncState(INITIALIZED)) !== undefined
    const pending = new Map<string, [EntityMapping, string]>()
    if (!initialized) {
      for (const entity of this.options.mapping.values()) {
        for await (const row of connector.readAll(entity)) {
          const key = row[entity.key]
          if (key !== null && key !== undefined)
            pending.set(problemId(entity, String(key)), [entity, String(key)])
        }
      }
    } else {
      let cursor = await this.readCursor(CHANGES_CURSOR)
      for (;;) {
        const changes = await connector.changesSince(cursor, 1000)
        if (changes.length === 0) break
        for (const change of changes) {
          // A custom field's change is a change of the record it belongs to.
          const entities =
            change.table === 'custom_fields'
              ? [...this.options.mapping.values()].filter(
                  (entity) =>
                    entity.customFieldsTable &&
                    this.keyToObject.has(linkId(entity.type, change.key)),
                )
              : [this.byTable.get(change.table)].filter((entity) => entity !== undefined)
          for (const entity of entities) {
            pending.set(problemId(entity, change.key), [entity, change.key])
          }
        }
        cursor = changes[changes.length - 1]!.seq
      }
    }
    const found: [
      (typeof OUTGOING_KINDS)[number],
      PlanItem,
      Record<string, FieldValue> | undefined,
    ][] = []
    for (const [entity, key] of pending.values()) {
      const row = await connector.read(entity, key)
      const objectId = this.keyToObject.get(linkId(entity.type, key))
      const base = {
        type: entity.type,
        table: entity.table,
        key,
        ...(objectId === undefined ? {} : { object: objectId }),
      }
      // A record the peer keeps (maintain: import) is written over, not sent.
      if (objectId !== undefined && (await this.keptByPeer(objectId, entity.type))) continue
      if (row === undefined) {
        if (objectId !== undefined)
          found.push(['delete', base, (await store.get(objectId))?.fields])
        continue
      }
      const custom = entity.customFieldsTable ? await connector.readCustom(key) : undefined
      const link = objectId === undefined ? undefined : await this.objectLink(objectId)
      if (sameSnapshot(link?.seen, snapshot(entity, row, custom))) continue
      let read: ReadRow
      try {
        read = this.readRow(entity, row, custom)
      } catch (error) {
        if (!(error instanceof RowProblem)) throw error
        found.push(['bad', { ...base, column: error.column, reason: error.message }, undefined])
        continue
      }
      found.push([objectId === undefined ? 'export' : 'update', base, withoutNulls(read.fields)])
    }
    const peers = options.peers ?? []
    const plans: OutgoingPlan[] = (peers.length === 0 ? [undefined] : peers).map((peer) => ({
      peer,
      ...emptyLists(OUTGOING_KINDS),
    }))
    for (const [kind, item, fields] of found) {
      for (const plan of plans) {
        const shared =
          kind === 'bad' ||
          plan.peer === undefined ||
          options.inScope === undefined ||
          options.inScope(plan.peer, item.type, fields ?? {}, item.object)
        if (shared) push(plan[kind], item, limit)
      }
    }
    return plans
  }

  /** Objects waiting for a person to say which local record they are, if any. */
  async reviewQueue(): Promise<{ object: ObjectId; type: ObjectType; candidates: string[] }[]> {
    const queue: { object: ObjectId; type: ObjectType; candidates: string[] }[] = []
    for await (const [key, value] of this.options.store.scanSyncState('local/review/')) {
      const entry = JSON.parse(decoder.decode(value)) as { type: ObjectType; candidates: string[] }
      queue.push({ object: key.slice('local/review/'.length) as ObjectId, ...entry })
    }
    return queue
  }

  /**
   * A local record as canonical fields, as the mapping reads it (for the match review);
   * undefined when the row is gone or the mapping cannot read it.
   */
  async readRecord(
    type: ObjectType,
    key: string,
  ): Promise<Record<string, FieldValue | null> | undefined> {
    const entity = this.options.mapping.get(type)
    if (entity === undefined) return undefined
    const row = await this.options.connector.read(entity, key)
    if (row === undefined) return undefined
    try {
      return this.readRow(entity, row, undefined).fields
    } catch (error) {
      if (error instanceof RowProblem) return undefined
      throw error
    }
  }

  /** Resolves a review: the object is the record `key`, or (`separate`) a new one. */
  async resolveMatch(id: ObjectId, decision: { link: string } | 'separate'): Promise<void> {
    await this.run(async () => {
      const object = await this.options.store.get(id)
      const entity = object === undefined ? undefined : this.options.mapping.get(object.type)
      if (object === undefined || entity === undefined) return
      const review = await this.options.store.getSyncState(`local/review/${id}`)
      const from =
        review === undefined
          ? undefined
          : (JSON.parse(decoder.decode(review)) as { from?: InstanceId }).from
      if (decision === 'separate') {
        await this.options.store.updateSyncState([[`local/review/${id}`, undefined]])
        await this.joinShareGroup(id, object.type, from)
        await this.writeRow(entity, id, id, object, { origin: from })
      } else {
        await this.unify(entity, id, decision.link, from)
      }
      this.reviewChanged(id)
    })
  }

  private reviewChanged(object: ObjectId): void {
    this.events.emit('review', object)
  }

  /** The local records as matching sees them, read once at start. */
  private async indexLocalRecords(): Promise<void> {
    for (const entity of this.options.mapping.values()) {
      for await (const row of this.options.connector.readAll(entity)) {
        const key = row[entity.key]
        if (key === null || key === undefined) continue
        try {
          const read = this.readRow(entity, row, undefined)
          this.matches.put({
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

  /**
   * Writes the object into the record `key`. A record someone changed since the daemon
   * last saw it is taken in first, unless `overwrite` (the record is read-only here).
   */
  private async writeRow(
    entity: EntityMapping,
    key: string,
    id: ObjectId,
    object: StoredObject,
    options: { origin?: InstanceId | undefined; overwrite?: boolean; afterIngest?: boolean } = {},
  ): Promise<void> {
    const { connector } = this.options
    const before = await connector.read(entity, key)
    const beforeCustom = entity.customFieldsTable ? await connector.readCustom(key) : undefined
    const link = await this.objectLink(id)
    if (
      options.overwrite !== true &&
      before !== undefined &&
      link !== undefined &&
      !sameSnapshot(link.seen, snapshot(entity, before, beforeCustom))
    ) {
      // Someone changed the row since the daemon last wrote or read it, and that change is
      // not in yet: take it in first (as a local edit that merges with the store's state),
      // then write the merged state, once (a row that can't be read stays as it is).
      await this.ingestRow(entity, key, before)
      if (options.afterIngest === true) return
      const merged = await this.options.store.get(id)
      if (merged === undefined || merged.deleted) return
      return this.writeRow(entity, key, id, merged, { ...options, afterIngest: true })
    }
    const contents = await this.contentsOf(entity, object)
    if (contents === undefined) {
      // The file's bytes are still on their way from a peer: the row is written once
      // they are here and verified (projectWaiting, when the blob store publishes them).
      const waitKey = `${CONTENT_WAIT_PREFIX}${id}`
      if ((await this.options.store.getSyncState(waitKey)) === undefined) {
        const from = options.origin ?? (await this.originOf(id))
        await this.options.store.putSyncState(waitKey, encoder.encode(from ?? ''))
      }
      this.log.debug({ table: entity.table, key, object: id }, 'file row waits for its content')
      return
    }
    const { row, custom, unchanged } = this.localForm(entity, object, before, beforeCustom)
    for (const [column, bytes] of contents) row[column] = bytes
    const contentChanged = [...contents].some(
      ([column, bytes]) => !sameLocal(before?.[column], bytes),
    )
    const written = !unchanged || contentChanged
    if (written) await connector.write(entity, key, row, custom)
    this.matches.put({ type: entity.type, key, fields: object.fields })
    // The row as it reads back: that is what its change-log entry will show.
    const after = written ? await connector.read(entity, key) : before
    const afterCustom = entity.customFieldsTable ? await connector.readCustom(key) : undefined
    await this.saveLink(
      entity.type,
      key,
      id,
      after === undefined ? undefined : snapshot(entity, after, afterCustom),
      options.origin,
    )
  }

  /** Whether every file content the object's row takes is held here. */
  private async contentHeld(entity: EntityMapping, object: StoredObject): Promise<boolean> {
    for (const mapped of entity.fields) {
      const sha = object.fields[mapped.field]
      if (mapped.type !== 'content' || typeof sha !== 'string') continue
      if (!(await this.options.store.blobs.has(sha))) return false
    }
    return true
  }

  /**
   * The bytes each content column of the row takes (null where the object names none),
   * or undefined while some of them are not held here yet.
   */
  private async contentsOf(
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
      const bytes = await this.options.store.blobs.read(sha)
      if (bytes === undefined) return undefined
      contents.set(mapped.column, bytes)
    }
    return contents
  }

  /** The object as the record's columns and custom fields, and whether the record says so. */
  private localForm(
    entity: EntityMapping,
    object: StoredObject,
    before: LocalRow | undefined,
    beforeCustom: CustomValues | undefined,
  ): { row: LocalRow; custom: CustomValues | undefined; unchanged: boolean } {
    const refs = this.resolver()
    const row: LocalRow = {}
    for (const mapped of entity.fields) {
      if (mapped.type === 'content') continue // the bytes, from contentsOf
      const value = writeField(mapped, object.fields[mapped.field], refs)
      const local = before?.[mapped.column]
      // A reference the store can't express (to a record with no object yet) stays.
      if (
        mapped.type === 'reference' &&
        value === null &&
        local !== null &&
        local !== undefined &&
        refs.toObject(String(local)) === undefined
      ) {
        continue
      }
      row[mapped.column] = value
    }
    const custom = entity.customFieldsTable
      ? Object.fromEntries(
          Object.entries(object.custom).map(([name, value]) => [name, String(value)]),
        )
      : undefined
    const unchanged =
      before !== undefined &&
      Object.keys(row).every((column) => sameLocal(before[column], row[column])) &&
      (custom === undefined ||
        JSON.stringify(sorted(beforeCustom ?? {})) === JSON.stringify(sorted(custom)))
    return { row, custom, unchanged }
  }

  // ── links ──────────────────────────────────────────────────────────────────────────

  private resolver(): ReferenceResolver {
    return {
      self: this.options.instanceId,
      toObject: (key) => {
        for (const type of this.options.mapping.keys()) {
          const id = this.keyToObject.get(linkId(type, key))
          if (id !== undefined) return id
        }
        return undefined
      },
      toLocal: (id) => this.objectToKey.get(id as ObjectId),
    }
  }

  private async loadLinks(): Promise<void> {
    // Links are read on demand below; the two maps keep what this process has seen.
    for await (const [key, value] of this.options.store.scanSyncState('local/link/')) {
      // local/link/<type>/<key>: the key is everything after the type, slashes and all.
      const rest = key.slice('local/link/'.length)
      const type = rest.slice(0, rest.indexOf('/')) as ObjectType
      const localKey = rest.slice(type.length + 1)
      const id = decoder.decode(value) as ObjectId
      this.keyToObject.set(linkId(type, localKey), id)
      this.objectToKey.set(id, localKey)
    }
  }

  private async objectLink(id: ObjectId): Promise<ObjectLink | undefined> {
    const stored = await this.options.store.getSyncState(`local/object/${id}`)
    return stored === undefined ? undefined : (JSON.parse(decoder.decode(stored)) as ObjectLink)
  }

  private async saveLink(
    type: ObjectType,
    key: string,
    id: ObjectId,
    seen: RowSnapshot | undefined,
    /** The peer whose object this record became (kept from the first time on). */
    origin?: InstanceId,
  ): Promise<void> {
    this.keyToObject.set(linkId(type, key), id)
    this.objectToKey.set(id, key)
    if (origin !== undefined) this.origins.set(id, origin)
    await this.options.store.updateSyncState([
      [`local/link/${type}/${key}`, encoder.encode(id)],
      [`local/object/${id}`, encoder.encode(JSON.stringify({ key, seen } satisfies ObjectLink))],
      ...(origin === undefined
        ? []
        : [[`${ORIGIN_PREFIX}${id}`, encoder.encode(origin)] as [string, Uint8Array]]),
    ])
  }

  /** Whether the object's record is read-only here: its origin peer's maintain is import. */
  private async keptByPeer(id: ObjectId, type: ObjectType): Promise<boolean> {
    const origin = await this.originOf(id)
    return (
      origin !== undefined && actionsFor(this.actionsByPeer, origin, type).maintain === 'import'
    )
  }

  /** The peer whose object became the record, if any (read when actions may need it). */
  private originOf(id: ObjectId): Promise<InstanceId | undefined> {
    return Promise.resolve(this.origins.get(id))
  }

  // ── groups ─────────────────────────────────────────────────────────────────────────

  /** Reads all group membership and announces what differs from what was announced. */
  private async loadGroups(): Promise<void> {
    const loaded = new Map<string, Set<string>>()
    for await (const { group, key } of this.options.connector.groupMembers()) {
      const groups = loaded.get(key) ?? new Set<string>()
      groups.add(group)
      loaded.set(key, groups)
    }
    for (const key of new Set([...this.groupsByKey.keys(), ...loaded.keys()])) {
      await this.setGroups(key, loaded.get(key) ?? new Set())
    }
  }

  /** Reads one record's groups again (its membership changed). */
  private async readGroups(key: string): Promise<void> {
    await this.setGroups(key, new Set(await this.options.connector.groupsOf(key)))
  }

  private async changeGroups(
    key: string,
    change: { join?: readonly string[]; leave?: readonly string[] },
    /** The peer the change is made for: it is not sent the object again. */
    from?: InstanceId,
  ): Promise<void> {
    await this.options.connector.changeGroups(key, change)
    await this.setGroups(key, new Set(await this.options.connector.groupsOf(key)), from)
  }

  /**
   * Records a record's membership; when it changed, the object is touched in the feed so
   * that the sync engine weighs it against each peer's scope again (and sends it, or
   * announces it as left) — also to peers that are offline now, when they come back.
   */
  private async setGroups(key: string, groups: Set<string>, from?: InstanceId): Promise<void> {
    const before = this.groupsByKey.get(key) ?? NO_GROUPS
    const same = before.size === groups.size && [...groups].every((group) => before.has(group))
    if (same) return
    if (groups.size === 0) this.groupsByKey.delete(key)
    else this.groupsByKey.set(key, groups)
    // What was announced is kept, so that a change made while the daemon is stopped is
    // found at the next start.
    await this.options.store.updateSyncState([
      [
        `${GROUPS_PREFIX}${key}`,
        groups.size === 0 ? undefined : encoder.encode(JSON.stringify([...groups].sort())),
      ],
    ])
    for (const type of this.options.mapping.keys()) {
      const id = this.keyToObject.get(linkId(type, key))
      if (id !== undefined) await this.options.store.touch(id, from)
    }
  }

  /** The groups the peer's share names for the type (its `groups` rule), in order. */
  private shareGroups(peer: InstanceId | undefined, type: ObjectType): ReadonlySet<string> {
    if (peer === undefined) return NO_GROUPS
    return new Set(this.options.peers?.get(peer)?.shareGroups?.[type] ?? [])
  }
}

/** A row as canonical values; `custom` only where the local system keeps custom fields. */
interface ReadRow {
  fields: Record<string, FieldValue | null>
  custom: CustomValues | undefined
  /** Some reference named a record that has no object yet. */
  unresolved?: boolean
  /**
   * Custom fields removed locally since last seen; when set, `custom` holds only changed
   * ones (absent: `custom` is the whole set, and what is not in it is removed).
   */
  removedCustom?: string[]
}

const NO_GROUPS: ReadonlySet<string> = new Set()

export interface PlanOptions {
  /** The peers to plan for; local edits are listed per peer when given. */
  peers?: readonly InstanceId[]
  /** Whether an object (with these canonical fields) goes to the peer. */
  inScope?: (
    peer: InstanceId,
    type: ObjectType,
    fields: Readonly<Record<string, unknown>>,
    id: ObjectId | undefined,
  ) => boolean
  /** At most this many items per list (default 1000); `count` says how many in all. */
  limit?: number
}

export interface PlanItem {
  type: ObjectType
  table: string
  /** The local record, when there is one. */
  key?: string
  object?: ObjectId
  candidates?: string[]
  groups?: string[]
  column?: string | undefined
  reason?: string
}

export interface PlanList {
  count: number
  items: PlanItem[]
}

const INCOMING_KINDS = [
  'link',
  'import',
  'update',
  'archive',
  'delete',
  'leave-group',
  'keep-local',
  'review',
  'skip',
] as const
const OUTGOING_KINDS = ['export', 'update', 'delete', 'bad'] as const

/** A peer's changes (undefined: made here through the API) not yet written here. */
export type IncomingPlan = { peer: InstanceId | undefined } & Record<
  (typeof INCOMING_KINDS)[number],
  PlanList
>
/** Local edits not yet taken in that go to the peer (undefined: to any peer). */
export type OutgoingPlan = { peer: InstanceId | undefined } & Record<
  (typeof OUTGOING_KINDS)[number],
  PlanList
>

export interface SyncPlan {
  incoming: IncomingPlan[]
  outgoing: OutgoingPlan[]
}

function emptyLists<K extends string>(kinds: readonly K[]): Record<K, PlanList> {
  return Object.fromEntries(
    kinds.map((kind) => [kind, { count: 0, items: [] as PlanItem[] }]),
  ) as Record<K, PlanList>
}

function push(list: PlanList, item: PlanItem, limit: number): void {
  list.count++
  if (list.items.length < limit) list.items.push(item)
}

/** What projecting one object does to the local system (see `decide`). */
type Projection =
  | { kind: 'none'; id: ObjectId }
  | (ProjectionBase &
      (
        | { kind: 'update' | 'archive' | 'delete' | 'link' | 'keep-local'; key: string }
        | { kind: 'import' }
        | { kind: 'review'; candidates: string[] }
        | { kind: 'leave-group'; key: string; groups: string[] }
        | { kind: 'skip'; key: string | undefined; reason: string }
      ))

interface ProjectionBase {
  id: ObjectId
  entity: EntityMapping
  object: StoredObject
  /** The peer whose change this is; undefined: this instance's own. */
  from: InstanceId | undefined
}

/**
 * Each object changed in the entries once, with the peer that sent its latest change.
 * Touches change nothing here (they are for the sync engine's scope), and changes taken
 * in from the local system (`from` this instance) are what it says already.
 */
function latestSenders(
  entries: readonly FeedEntry[],
  self: InstanceId,
): Map<ObjectId, InstanceId | undefined> {
  const senders = new Map<ObjectId, InstanceId | undefined>()
  for (const entry of entries) {
    if (entry.touch !== true && entry.from !== self) senders.set(entry.object, entry.from)
  }
  return senders
}

function linkId(type: ObjectType, key: string): string {
  return `${type}/${key}`
}

function problemId(entity: EntityMapping, key: string): string {
  return `${entity.table}\u0000${key}`
}

function sameLocal(a: LocalValue | undefined, b: LocalValue | undefined): boolean {
  return localText(a) === localText(b)
}

/** A local value as text to compare; bytes (a file's content) by their sha256. */
function localText(value: LocalValue | undefined): string | null {
  if (value === null || value === undefined) return null
  return value instanceof Uint8Array ? `sha256:${contentHash(value)}` : String(value)
}

function sorted(values: CustomValues): [string, string][] {
  return Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

function snapshot(
  entity: EntityMapping,
  row: LocalRow,
  custom: CustomValues | undefined,
): RowSnapshot {
  const columns: Record<string, string | null> = {}
  for (const mapped of entity.fields) {
    columns[mapped.column] = localText(row[mapped.column])
  }
  return { columns, custom: custom === undefined ? undefined : { ...custom } }
}

/** The part of a read row whose columns (and custom fields) changed since `seen`. */
function changedSince(
  entity: EntityMapping,
  read: ReadRow,
  row: LocalRow,
  custom: CustomValues | undefined,
  seen: RowSnapshot | undefined,
): ReadRow {
  if (seen === undefined) return read
  const now = snapshot(entity, row, custom)
  const fields: Record<string, FieldValue | null> = {}
  for (const mapped of entity.fields) {
    if (now.columns[mapped.column] !== seen.columns[mapped.column] && mapped.field in read.fields) {
      fields[mapped.field] = read.fields[mapped.field]!
    }
  }
  let changedCustom: CustomValues | undefined
  if (read.custom !== undefined) {
    changedCustom = {}
    const before = seen.custom ?? {}
    for (const [name, value] of Object.entries(read.custom)) {
      if (before[name] !== value) changedCustom[name] = value
    }
  }
  return { fields, custom: changedCustom, removedCustom: customRemoved(read.custom, seen.custom) }
}

function customRemoved(now: CustomValues | undefined, before: CustomValues | undefined): string[] {
  if (now === undefined || before === undefined) return []
  return Object.keys(before).filter((name) => !(name in now))
}

function sameSnapshot(seen: RowSnapshot | undefined, now: RowSnapshot): boolean {
  if (seen === undefined) return false
  const canonical = (snap: RowSnapshot) =>
    JSON.stringify([snap.columns, snap.custom === undefined ? null : sorted(snap.custom)])
  return canonical(seen) === canonical(now)
}

function withoutNulls<T>(record: Record<string, T | null>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null)) as Record<
    string,
    T
  >
}

/** What to change on the object so that it says what the row says; undefined: nothing. */
function diff(
  object: StoredObject,
  read: ReadRow,
):
  | { fields?: Record<string, FieldValue | null>; custom?: Record<string, string | null> }
  | undefined {
  const fields: Record<string, FieldValue | null> = {}
  for (const [name, value] of Object.entries(read.fields)) {
    const current = object.fields[name]
    if (name === 'externalIds') {
      // The column holds this instance's id only; ids other instances keep stay.
      const merged = {
        ...(current as Record<string, string> | undefined),
        ...(value as Record<string, string> | null),
      }
      if (JSON.stringify(merged) !== JSON.stringify(current ?? {})) fields[name] = merged
      continue
    }
    if (
      value === null ? current !== undefined : JSON.stringify(value) !== JSON.stringify(current)
    ) {
      fields[name] = value
    }
  }
  const custom: Record<string, string | null> = {}
  const localCustom = read.custom
  if (localCustom !== undefined) {
    for (const [name, value] of Object.entries(localCustom)) {
      if (String(object.custom[name]) !== value) custom[name] = value
    }
    if (read.removedCustom === undefined) {
      for (const name of Object.keys(object.custom)) if (!(name in localCustom)) custom[name] = null
    } else {
      for (const name of read.removedCustom) if (name in object.custom) custom[name] = null
    }
  }
  const patch = {
    ...(Object.keys(fields).length > 0 ? { fields } : {}),
    ...(Object.keys(custom).length > 0 ? { custom } : {}),
  }
  return Object.keys(patch).length > 0 ? patch : undefined
}
