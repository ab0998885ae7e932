// The sending side of a session: on the peer's `want`, a plan, then what it lacks of our
// feed (a first sync scans the store instead), then every new change as it happens —
// whole facets, many per batch, a burst of edits coalesced so each facet goes once.
import type { FeedEntry } from '../../store/index.ts'
import type { FacetId } from '../../model/index.ts'
import type { FirstSyncScan } from './first-sync.ts'
import type { Outbox } from './outbox.ts'
import type { SessionCore } from './session-core.ts'
import { scopeSent } from './session-keys.ts'
import type { SessionScope } from '../session-scope.ts'
import type { SharedObjects } from './shared-objects.ts'

/** Feed entries read at a time when sending a feed range. */
const FEED_PAGE = 2000
/** Facets whose stored bytes are read at once when sending. */
const READ_AHEAD = 64

export interface FeedSenderComponents {
  core: SessionCore
  scope: SessionScope
  shared: SharedObjects
  outbox: Outbox
  firstSync: FirstSyncScan
}

export class FeedSender {
  constructor(private readonly components: FeedSenderComponents) {}

  /** Sends the peer everything after `after`, then every new change as it happens. */
  async run(after: number, resume: string | undefined): Promise<void> {
    const { core, outbox } = this.components
    outbox.peerWants(after)
    const queued: FeedEntry[] = []
    // Listening before the catch-up starts: nothing written meanwhile is missed.
    const unsubscribe = core.store.on('feed', (entries) => {
      queued.push(...entries)
      core.wake()
    })
    try {
      await this.catchUp(after, resume)
      await core.send({ t: 'live' })
      await this.pushLive(queued)
    } finally {
      unsubscribe()
    }
  }

  private async catchUp(after: number, resume: string | undefined): Promise<void> {
    const { core, shared, outbox, firstSync } = this.components
    const { store, peer } = core
    const scope = core.scope
    const start = store.lastSeq
    // A scope that changed since this peer was last sent anything (peers.json edited)
    // may hold objects the feed after its cursor never names: go through them all.
    const scopeAtLastSend = await scopeSent.read(store, peer)
    const scopeChanged = scopeAtLastSend !== undefined && scopeAtLastSend !== scope.key
    if (scopeChanged) core.log.info({ peer }, 'scope changed; sending everything now in scope')
    await core.send({
      t: 'plan',
      total: Math.max(0, scopeChanged ? start : start - after),
      lastSeq: start,
    })
    if (after === 0 || scopeChanged) {
      const from = after === 0 ? firstSync.resumePosition(resume, start) : undefined
      await firstSync.scan(start, from)
      if (from !== undefined && !core.closed) {
        // What changed behind a resumed scan is in the feed after the scan's start.
        await this.sendFeedRange(from.seq, start)
        // However little the feed range held, the peer learns that it has everything.
        await outbox.sendBatch([], start)
      }
    } else {
      await this.sendFeedRange(after, start)
    }
    if (scopeChanged) await shared.announceDropped()
    if (scopeAtLastSend === undefined || scopeChanged) {
      await scopeSent.write(store, peer, scope.key)
    }
    core.sentUpTo = Math.max(core.sentUpTo, start)
  }

  private async pushLive(queued: FeedEntry[]): Promise<void> {
    const { core, scope, outbox } = this.components
    while (!core.closed) {
      // Wait out a batch being applied, so that its echoes are known before we look.
      // Every queued entry clears its echo mark, whether or not it is sent.
      const taken = core.applying ? [] : queued.splice(0)
      const fresh = taken.filter(
        (entry) =>
          !this.isEcho(entry) &&
          entry.seq > core.sentUpTo &&
          // A touch made for this peer (its object joined a group here) is no news to it.
          !(entry.touch === true && entry.from === core.peer),
      )
      const upTo = taken.at(-1)?.seq ?? 0
      if (fresh.length === 0) {
        // Echoes of the peer's own changes are not pending for it: it holds them.
        core.sentUpTo = Math.max(core.sentUpTo, upTo)
        if (outbox.shouldTell(core.sentUpTo)) {
          // Its cursor of our feed moves with a batch of no items (then look again).
          await outbox.sendBatch([], core.sentUpTo)
          continue
        }
        // Not awaited: nothing may come between looking at the queue and waiting, or a
        // wake in between would be lost.
        outbox.peerHolds(upTo)
        await core.sleep()
        continue
      }
      // A burst of edits is coalesced: each facet goes once, at its latest state.
      await this.sendFacets(scope.facetsInScope(fresh), upTo)
    }
  }

  /**
   * Whether the entry is the peer's own change, echoed (its mark is cleared either way).
   * A facet of an object shared one by one, continued by the peer, is not one: the
   * peer's change may have moved the object out of its share (announced as left) or into
   * it (its other facets sent), and each change keeps the object's mark (`shared/`)
   * current, which SharedObjects.select does. It is sent back, as it always was; a facet
   * new here came from the peer whole and is no news to it.
   */
  private isEcho(entry: FeedEntry): boolean {
    const { core, scope } = this.components
    const continued = core.echoes.get(entry.facet)
    if (continued === undefined) return false
    core.echoes.delete(entry.facet)
    return !(continued && scope.needsObjectVerdict(entry.type))
  }

  private async sendFeedRange(after: number, upTo: number): Promise<void> {
    const { core, scope } = this.components
    for (let seq = after; seq < upTo && !core.closed;) {
      const entries = (await core.store.readFeed(seq, FEED_PAGE)).filter(
        (entry) => entry.seq <= upTo,
      )
      if (entries.length === 0) break
      seq = entries[entries.length - 1]!.seq
      await this.sendFacets(scope.facetsInScope(entries), seq)
    }
  }

  private async sendFacets(entries: readonly FeedEntry[], upTo: number): Promise<void> {
    const { core, shared, outbox } = this.components
    const { facets, left } = await shared.select(entries)
    if (left.length > 0) await core.send({ t: 'left', objects: left })
    let items: [FacetId, Uint8Array][] = []
    let bytes = 0
    // Read many at once: each read waits on LevelDB, and one after the other they were
    // most of a catch-up's time at the sender.
    for (let start = 0; start < facets.length; start += READ_AHEAD) {
      const window = facets.slice(start, start + READ_AHEAD)
      const read = await Promise.all(window.map((facet) => core.store.getFacetBytes(facet)))
      for (const [index, stored] of read.entries()) {
        if (stored === undefined) continue
        items.push([window[index]!, stored])
        bytes += stored.length
        if (bytes >= core.batchBytes) {
          await outbox.sendBatch(items, 0)
          items = []
          bytes = 0
        }
      }
    }
    await outbox.sendBatch(items, upTo)
    core.sentUpTo = Math.max(core.sentUpTo, upTo)
  }
}
