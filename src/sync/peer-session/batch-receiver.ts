// The receiving side of a session: what to ask the peer for (after our cursor, or where
// an interrupted first sync stopped), its plan, and its batches — checked against the
// scope, applied, echoes noted for the sending side, the cursor or the first sync's
// resume record saved, and one credit sent back per batch.
import type { FacetId } from '../../model/index.ts'
import { refusedByScope, type AppliedChanges, type PrereadDocument } from '../../store/index.ts'
import type { BlobTransfer } from '../blob-transfer/index.ts'
import type { SyncMessage } from '../messages.ts'
import type { SessionCore } from './session-core.ts'
import { readResumeRecord } from './first-sync.ts'
import { firstSyncResume, receivedCursor } from './session-keys.ts'
import type { SessionScope } from '../session-scope.ts'

export interface BatchReceiverComponents {
  core: SessionCore
  scope: SessionScope
  blobs: BlobTransfer
  /** Called after each batch is applied here, with the facets that changed. */
  onApplied: ((changed: number) => void) | undefined
}

type Want = Extract<SyncMessage, { t: 'want' }>

/** A batch applied: per item, what changed (undefined: refused); how many were invalid. */
interface Applied {
  results: (AppliedChanges | undefined)[]
  invalid: number
}

interface Refusal {
  facet: string
  reason: string
}

/** Log lines about refused facets per session and minute; the rest are counted. */
const REFUSAL_LINES = 10
/**
 * Facets refused as invalid (not out of scope: an honest peer whose share is wider than
 * what we take sends those) per session and minute before the session is ended: a peer
 * that keeps sending what no honest writer makes is then redialled on a growing backoff.
 */
export const INVALID_PER_MINUTE = 1_000

/** A session ended for what the peer sent: it is not to be redialled at once. */
export class PeerMisbehaving extends Error {}
/** Refused facets named in one line. */
const REFUSAL_EXAMPLES = 3

export class BatchReceiver {
  /** Facets received in earlier sessions of an interrupted first sync. */
  private resumedDone = 0
  private refusalWindowStart = 0
  private refusalLines = 0
  private refusalsUnlogged = 0
  private invalidWindowStart = 0
  private invalidInWindow = 0

  constructor(private readonly components: BatchReceiverComponents) {}

  /** The `want` that opens the session; loads the saved cursor. */
  async want(): Promise<Want> {
    const { core } = this.components
    core.received =
      (await receivedCursor.read(core.store, core.peer, { unreadable: 'absent' })) ?? 0
    const interrupted = core.received === 0 ? await readResumeRecord(core) : undefined
    this.resumedDone = interrupted?.done ?? 0
    return {
      t: 'want',
      after: core.received,
      ...(interrupted === undefined ? {} : { resume: interrupted.token }),
    }
  }

  /** The peer's plan; false when the session must end (its feed is behind our cursor). */
  async plan(total: number, lastSeq: number): Promise<boolean> {
    const { core } = this.components
    if (lastSeq < core.received) {
      // The peer's feed is shorter than our cursor (its store was reset or restored):
      // start over from 0 on the next session rather than skip what it has now.
      core.log.warn(
        { peer: core.peer, cursor: core.received, peerLastSeq: lastSeq },
        'sync cursor beyond the peer feed; starting over',
      )
      await receivedCursor.write(core.store, core.peer, 0)
      return false
    }
    core.peerLastSeq = lastSeq
    core.progress.total = total
    core.progress.done = this.resumedDone
    core.reportProgress()
    return true
  }

  /** The peer has sent everything it had and pushes live changes now. */
  live(): void {
    const { progress } = this.components.core
    progress.caughtUp = true
    progress.done = Math.max(progress.done, progress.total)
    this.components.core.reportProgress()
  }

  async receive(
    items: [FacetId, Uint8Array][],
    upTo: number,
    resume: string | undefined,
    /** The items' reads, started as the batch arrived (ObjectStore.prereadDocuments). */
    preread?: Promise<readonly PrereadDocument[]>,
  ): Promise<void> {
    const { core, blobs } = this.components
    const { stats } = core
    stats.batchesReceived++
    core.applying = true
    let applied: Applied
    try {
      applied = await this.apply(items, preread)
    } finally {
      // Also when it fails: a session whose flag stayed up would send nothing live.
      core.applying = false
      core.wake()
    }
    const { results, invalid } = applied
    const changed = results.filter((result) => result?.changed === true).length
    stats.facetsApplied += changed
    // Progress is the catch-up's; what is pushed live once caught up is not counted (it
    // read {"total":1,"done":3}). The peer's total is rough: never below what is done.
    if (!core.progress.caughtUp) {
      core.progress.done += items.length
      core.progress.total = Math.max(core.progress.total, core.progress.done)
    }
    await this.savePosition(upTo, resume)
    core.reportProgress()
    this.components.onApplied?.(changed)
    // After the position is saved: the next session goes on after this batch.
    this.countInvalid(invalid)
    await core.send({ t: 'credit', n: 1 })
    const files = results.flatMap((result) =>
      result?.changed === true && result.type === 'file' ? [result.object] : [],
    )
    if (files.length > 0) await blobs.notice(files)
  }

  /**
   * The batch checked against the scope and applied; refusals reported; what was stored
   * as received noted as echoes (not to be sent back). Per item, what changed.
   */
  private async apply(
    items: [FacetId, Uint8Array][],
    preread: Promise<readonly PrereadDocument[]> | undefined,
  ): Promise<Applied> {
    const { core, scope } = this.components
    const { store, stats } = core
    const admitted = await scope.admittedObjects(items)
    const appliedItems = items.filter((_, index) => admitted[index] === true)
    const reads = (await preread)?.filter((_, index) => admitted[index] === true)
    const outcomes = await store.applyRemoteDocuments(
      appliedItems,
      (type, facet) => scope.allows(type, facet),
      core.peer,
      scope.admitsReference,
      reads,
    )
    const refusals: Refusal[] = []
    for (const [index, item] of items.entries()) {
      const verdict = admitted[index]!
      if (verdict === true) continue
      refusals.push({
        facet: item[0],
        reason:
          verdict === false
            ? 'its object is outside what this instance shares with the peer'
            : verdict.reason,
      })
    }
    // One bad facet is refused; the rest of the batch still applies.
    let invalid = 0
    const results = outcomes.map((outcome, index) => {
      if (!(outcome instanceof Error)) return outcome
      refusals.push({ facet: appliedItems[index]![0], reason: outcome.message })
      if (!refusedByScope(outcome)) invalid++
      return undefined
    })
    stats.facetsRefused += refusals.length
    if (refusals.length > 0) this.reportRefused(refusals)
    for (const result of results) {
      if (result?.storedAsReceived) core.echoes.set(result.facet, result.continuedLine === true)
    }
    return { results, invalid }
  }

  /**
   * One line per batch with refusals, naming a few, and at most REFUSAL_LINES a minute: a
   * peer sending what we refuse must not fill the disk with our log (a line with a stack
   * per facet was ≈ 170 bytes of log per byte received).
   */
  private reportRefused(refusals: Refusal[]): void {
    const { core } = this.components
    const now = Date.now()
    if (now - this.refusalWindowStart >= 60_000) {
      this.refusalWindowStart = now
      this.refusalLines = 0
    }
    if (this.refusalLines >= REFUSAL_LINES) {
      this.refusalsUnlogged += refusals.length
      return
    }
    this.refusalLines++
    core.log.warn(
      {
        peer: core.peer,
        refused: refusals.length,
        ...(this.refusalsUnlogged > 0 ? { refusedUnlogged: this.refusalsUnlogged } : {}),
        examples: refusals.slice(0, REFUSAL_EXAMPLES).map(({ facet, reason }) => ({
          facet: facet.slice(0, 80),
          reason: reason.length > 300 ? `${reason.slice(0, 300)}…` : reason,
        })),
      },
      'facets from peer refused',
    )
    this.refusalsUnlogged = 0
  }

  /** At the session's end: the refusals the per-minute cap kept out of the log, in one line. */
  logUnlogged(): void {
    if (this.refusalsUnlogged === 0) return
    const { core } = this.components
    core.log.warn(
      { peer: core.peer, refusedUnlogged: this.refusalsUnlogged },
      'facets from peer refused (not logged one batch at a time)',
    )
    this.refusalsUnlogged = 0
  }

  private countInvalid(invalid: number): void {
    if (invalid === 0) return
    const now = Date.now()
    if (now - this.invalidWindowStart >= 60_000) {
      this.invalidWindowStart = now
      this.invalidInWindow = 0
    }
    this.invalidInWindow += invalid
    if (this.invalidInWindow >= INVALID_PER_MINUTE) {
      throw new PeerMisbehaving(
        `the peer sent ${this.invalidInWindow} facets refused as invalid within a minute`,
      )
    }
  }

  /** After a batch is applied: the cursor, or where the first sync stands. */
  private async savePosition(upTo: number, resume: string | undefined): Promise<void> {
    const { store, peer, progress } = this.components.core
    const core = this.components.core
    if (upTo > core.received) {
      // The first sync (if one was running) is complete: the cursor takes over.
      core.received = upTo
      await store.updateSyncState([
        receivedCursor.entry(peer, upTo),
        firstSyncResume.entry(peer, undefined),
      ])
    } else if (resume !== undefined && core.received === 0) {
      // Saved after the batch is applied: a crash in between resends it, and applying
      // a facet twice changes nothing.
      await firstSyncResume.write(store, peer, { token: resume, done: progress.done })
    }
  }
}
