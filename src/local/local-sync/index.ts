// The bridge between the local system and the object store, both ways:
//
//   ingest:  rows changed in the local system (by anyone) → mapping → store edits
//   project: objects changed in the store (here or by peers) → mapping → local writes
//
// `LocalSync` is the front: it makes the shared core, runs one piece of work at a time
// (ingest and projection never interleave), keeps the timers and subscriptions, and
// hands each operation to its collaborator:
//   make-core     the shared core, each part made with the ones it needs
//   first-run     every row taken in once, tried again while it fails
//   state-keys    every `local/…` sync-state key, in one table
//   links         record ↔ object links, origins, merges
//   row-snapshot  pure row comparison: what differs from the row as last seen is an edit
//   row-reader    a row as canonical values; rows the mapping can't read
//   ingest        rows → store
//   projection    deciding what an object's change does here (reads only)
//   row-writer    one object → one row
//   projector     carrying out decisions; files waiting for content; retries
//   groups        group membership, announced through the feed
//   review        the match review queue
//   plan          the dry run (write-free by its imports)
//   health        whether the local system answers
import { ObjectSyncError } from '../../errors.ts'
import type { Listener } from '../../typed-events.ts'
import type { FieldValue, ObjectId, ObjectType } from '../../model/index.ts'
import type { BadRow, LocalSyncCore, LocalSyncEvents, LocalSyncOptions } from './core.ts'
import { LocalSystemHealth, type LocalSystemState } from './health.ts'
import { FirstRun } from './first-run.ts'
import { Ingest } from './ingest.ts'
import { makeCore } from './make-core.ts'
import { planIncoming, planOutgoing, type PlanOptions, type SyncPlan } from './plan.ts'
import { Projector } from './projector.ts'
import { Review, type ReviewItem } from './review.ts'
import { RowWriter } from './row-writer.ts'
import { localState } from './state-keys.ts'

export type { BadRow, LocalPeerSettings, LocalSyncEvents, LocalSyncOptions } from './core.ts'
export type { LocalSystemState } from './health.ts'
export { INGEST_PROGRESS_ROWS } from './table-ingest.ts'
export type {
  IncomingPlan,
  OutgoingPlan,
  PlanItem,
  PlanList,
  PlanOptions,
  SyncPlan,
} from './plan.ts'

export const DEFAULT_HOUSEKEEPING_MS = 24 * 60 * 60 * 1000
/** The longest period a Node timer takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1
const DEFAULT_POLL_MS = 50
/** A refused write, or a first run cut short, is tried again after 1 s, then 2, 4 … 60 s. */
const RETRY_FIRST_MS = 1000
const RETRY_MAX_MS = 60_000

export class LocalSync {
  private readonly core: LocalSyncCore
  private readonly ingest: Ingest
  private readonly writer: RowWriter
  private readonly projector: Projector
  private readonly review: Review
  private work: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private housekeepingTimer: NodeJS.Timeout | undefined
  private unsubscribe: (() => void) | undefined
  private projectQueued = false
  private ingestQueued = false
  private retryTimer: NodeJS.Timeout | undefined
  private retryDelayMs = 0
  private housekeepingQueued = false
  private opened = false
  /** Whether the match index holds every row (read at open, or by the first run). */
  private indexed = false
  private readonly first = new FirstRun(
    () => this.firstRun(),
    (error) => this.failed(error),
    { firstMs: RETRY_FIRST_MS, maxMs: RETRY_MAX_MS },
  )
  private stopped = false
  private readonly health: LocalSystemHealth

  constructor(private readonly options: LocalSyncOptions) {
    this.core = makeCore(options)
    this.health = new LocalSystemHealth(options.connector.description, this.core.log, (state) =>
      this.core.events.emit('local-system', { ...state, behind: this.projector.feed.behind() }),
    )
    // Ingest and the row writer call each other (a row edited since last seen is taken
    // in before it is written; a record the peer keeps is written over): each is handed
    // the other, the writer through a closure since it is made first.
    this.writer = new RowWriter(this.core, (entity, key, row) =>
      this.ingest.ingestRow(entity, key, row),
    )
    this.ingest = new Ingest(this.core, this.writer)
    this.projector = new Projector(this.core, this.writer, (entity, key, objectId, seen) =>
      this.ingest.takeInto(entity, key, objectId, seen),
    )
    this.review = new Review(this.core, { writer: this.writer, projector: this.projector })
  }

  /** The groups its local record is in, for scope rules; undefined for no local record. */
  groupsOf(id: ObjectId): ReadonlySet<string> | undefined {
    return this.core.groups.groupsOf(id)
  }

  /** Whether the local system answers, since when, why not, and how far behind it is. */
  localSystem(): LocalSystemState {
    return { ...this.health.state(), behind: this.projector.feed.behind() }
  }

  /** The row of the local system that stands for the object (its table and key), if any. */
  recordOf(id: ObjectId, type: ObjectType): { table: string; key: string } | undefined {
    const [key, table] = [this.core.links.recordKeyOf(id), this.core.mapping.get(type)?.table]
    return key === undefined || table === undefined ? undefined : { table, key }
  }

  /** Objects whose write the local system refused, waiting to be tried again. */
  waitingToRetry = (): Promise<number> => this.projector.waitingToRetry()

  /** Rows the mapping could not read, as last seen; each leaves when its row reads again. */
  badRows(): BadRow[] {
    return [...(this.core.connector.badRows?.() ?? []), ...this.core.rows.badRows()]
  }

  /** Subscribes to the local sync's events (LocalSyncEvents); returns unsubscribe. */
  on<Name extends keyof LocalSyncEvents & string>(
    name: Name,
    listener: Listener<LocalSyncEvents[Name]>,
  ): () => void {
    return this.core.events.on(name, listener)
  }

  /**
   * Opens the local system and reads what the bridge keeps in memory (links, group
   * membership, the records as matching sees them), taking nothing in: enough for `plan`.
   * A SQLite file gets its change log and triggers if missing. `start` opens first; no
   * session may start before `open` has finished: `groupsOf` reads what it loads.
   */
  async open(): Promise<void> {
    if (this.opened) return
    await this.core.connector.open([...this.core.mapping.values()])
    this.opened = true
    await this.core.links.load()
    await this.core.awaiting.load()
    await this.core.groups.load()
    // A first run reads every row anyway (start): the index is built as they are taken in.
    // Not when one was cut short: the rows it took in are skipped as seen, not indexed.
    const firstRun = (await localState.initialized.read(this.core.store)) === undefined
    if (!firstRun || this.core.links.hasAny()) await this.index()
  }

  /** Every row taken in; marked done only once all are. */
  private async firstRun(): Promise<void> {
    // A run cut short took rows in without indexing them (they are skipped as seen now).
    if (this.core.links.hasAny()) await this.index()
    await this.ingest.ingestEverything()
    await localState.initialized.write(this.core.store, true)
    this.indexed = true
  }

  /** The local records as matching sees them, read once (see open). */
  private async index(): Promise<void> {
    if (this.indexed) return
    await this.ingest.indexLocalRecords()
    this.indexed = true // only once read whole: a read cut short is made again
  }

  async start(): Promise<void> {
    const { store } = this.core
    await this.open()
    if ((await localState.initialized.read(store)) === undefined) {
      // First run: the change log only knows what changed since the triggers exist. One
      // cut short (the local system failing half-way) runs again at the next poll.
      this.first.done = false
      await this.run(async () => void (await this.first.attempt()))
    }
    await this.run(() => this.projector.finishDrops())
    await this.run(() => this.pollChanges())
    // Membership changed while the daemon was stopped (or in a crash before it was
    // announced) is found against what was last announced.
    await this.run(() => this.core.groups.loadGroups())
    await this.run(() => this.project())
    // The projection reads a first sync's new objects right behind the receiver, which
    // waits for it when it falls too far behind.
    this.projector.feed.follower = store.follow()
    const unsubscribeFeed = store.on('feed', (entries) => {
      this.projector.feed.noteFeed(entries)
      this.queueProjection()
    })
    const unsubscribeBlobs = store.blobs.on('published', () => {
      void this.run(() => this.projector.projectWaiting())
    })
    // A local system that says when another program commits (PostgreSQL's NOTIFY) is
    // read at once; the poll below stays, for changes a lost wake-up would leave.
    const unsubscribeWake = this.core.connector.onChanges?.(() => this.queueIngest())
    this.unsubscribe = () => {
      unsubscribeFeed()
      unsubscribeBlobs()
      unsubscribeWake?.()
    }
    // Content that arrived while the daemon was stopped (or just before this start).
    await this.run(() => this.projector.projectWaiting())
    this.timer = setInterval(() => {
      void this.run(() => this.pollChanges())
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
    clearTimeout(this.retryTimer)
    this.unsubscribe?.()
    await this.work
    if (this.opened) await this.core.connector.close()
    this.opened = false
  }

  /**
   * Resolves once everything queued so far has been ingested and projected (projected
   * only once a first run has read every row).
   */
  async settled(): Promise<void> {
    await this.run(() => this.pollChanges())
    await this.run(() => this.project())
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
      await this.projector.finishDrops()
      await this.ingest.ingestChanges()
      await this.ingest.ingestEverything({ deletes: true })
      await this.core.groups.loadGroups()
      const rewritten = await this.projector.rewriteDiffering()
      const retried = await this.projector.retryFailed()
      this.health.answered()
      this.core.log.info({ rewritten, retried, ms: Date.now() - started }, 'housekeeping done')
    })
  }

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
          `${this.core.connector.description} is not open`,
        )
      }
      await this.index()
      return {
        incoming: await planIncoming(this.core, limit),
        outgoing: await planOutgoing(this.core, options, limit),
      }
    })
    this.work = planned.then(
      () => undefined,
      () => undefined,
    )
    return planned
  }

  /** Objects waiting for a person to say which local record they are, if any. */
  async reviewQueue(): Promise<ReviewItem[]> {
    return this.review.queue()
  }

  /**
   * A local record as canonical fields, as the mapping reads it (for the match review);
   * undefined when the row is gone or the mapping cannot read it.
   */
  async readRecord(
    type: ObjectType,
    key: string,
  ): Promise<Record<string, FieldValue | null> | undefined> {
    return this.review.readRecord(type, key)
  }

  /** Resolves a review: the object is the record `key`, or (`separate`) a new one. */
  async resolveMatch(id: ObjectId, decision: { link: string } | 'separate'): Promise<void> {
    // In turn with the other work, and a failure is the caller's to report (the API's).
    let failure: { error: unknown } | undefined
    await this.run(async () => {
      try {
        await this.review.resolve(id, decision)
      } catch (error) {
        failure = { error }
      }
    })
    if (failure !== undefined) throw failure.error
  }

  /** Runs one piece of work after the others: ingest and projection never interleave. */
  private run(task: () => Promise<void>): Promise<void> {
    const next = this.work.then(async () => {
      if (this.stopped) return
      try {
        await task()
      } catch (error) {
        // The local system not answering is logged when it stops and when it starts again.
        this.failed(error)
      }
      if (this.projector.takeFailed()) this.retrySoon()
    })
    this.work = next
    return next
  }

  /**
   * Tries the failed writes again within seconds (a local system busy or refusing for a
   * while), backing off while they keep failing; housekeeping tries them too.
   */
  private retrySoon(): void {
    if (this.retryTimer !== undefined || this.stopped) return
    this.retryDelayMs = Math.min(Math.max(this.retryDelayMs * 2, RETRY_FIRST_MS), RETRY_MAX_MS)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      void this.run(async () => {
        await this.projector.retryFailed()
        if (this.projector.takeFailed()) this.retrySoon()
        else this.retryDelayMs = 0
      })
    }, this.retryDelayMs)
    this.retryTimer.unref()
  }

  private queueIngest(): void {
    if (this.ingestQueued || this.stopped) return
    this.ingestQueued = true
    void this.run(async () => {
      this.ingestQueued = false
      await this.pollChanges()
    })
  }

  /** Reads the change log, and so learns that the local system answers. */
  private async pollChanges(): Promise<void> {
    // A first run cut short is tried again (the change log is read meanwhile); while it
    // fails, the local system does not count as answering.
    let firstRunPending = false
    if (!this.first.done) {
      firstRunPending = !(await this.first.attempt())
      if (!firstRunPending) this.queueProjection() // held until now (see project)
    }
    await this.ingest.ingestChanges()
    if (!firstRunPending) this.health.answered()
  }

  /**
   * Objects changed in the store written into the local system: not before a first run
   * has read every row, or matching would miss records and write duplicates of them.
   */
  private project(): Promise<void> {
    return this.first.done ? this.projector.projectChanges() : Promise.resolve()
  }

  private queueProjection(): void {
    if (this.projectQueued) return
    this.projectQueued = true
    void this.run(async () => {
      this.projectQueued = false
      await this.project()
    })
  }

  /** A failure of the work logged (one of the local system not answering, by `health`). */
  private failed(error: unknown): void {
    if (!this.health.failed(error)) {
      this.core.log.error({ err: error }, 'local system sync failed; retrying at the next change')
    }
  }
}
