// First sync: every stored facet in scope, sent by scanning the store rather than the
// feed. With everything shared, the store is read in key order without loading anything;
// otherwise type by type, through the type index. Each batch carries a resume token that
// says where the scan stands; the receiving side keeps the last one (`first-sync/<peer>`)
// so that an interrupted first sync resumes there.
import { createHash } from 'node:crypto'
import {
  CORE_FACET,
  parseFacetId,
  type FacetId,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import { readFacetBytes } from '../../store/index.ts'
import type { Outbox } from './outbox.ts'
import type { SessionCore } from './session-core.ts'
import { firstSyncResume, type FirstSyncRecord } from './session-keys.ts'
import type { SessionScope } from '../session-scope.ts'
import type { SharedObjects } from './shared-objects.ts'

/**
 * A first-sync scan position, as the sender puts it in each batch's resume token: the
 * feed sequence the scan started at, the scan source (everything, or one type of the
 * scope) and the key after which it goes on, and the scope it was made for.
 */
export interface ScanPosition {
  seq: number
  source: number
  after: string | undefined
  scope: string
}

type ScanPage = readonly { facet: FacetId; bytes: Uint8Array }[]

export interface FirstSyncScanComponents {
  core: SessionCore
  scope: SessionScope
  shared: SharedObjects
  outbox: Outbox
}

export class FirstSyncScan {
  /** A short digest of the scope's key: resume tokens must stay small however long the scope. */
  private readonly scopeDigest: string

  constructor(private readonly components: FirstSyncScanComponents) {
    this.scopeDigest = createHash('sha256')
      .update(components.scope.peerScope.key)
      .digest('base64url')
      .slice(0, 22)
  }

  /**
   * Sends every stored facet in scope, from `from` on if given. Only the very last page
   * of a scan from scratch covers the feed up to `upTo`; a resumed scan leaves the feed
   * after its start to the caller (what changed behind the scan meanwhile is there).
   */
  async scan(upTo: number, from: ScanPosition | undefined): Promise<void> {
    const { core, scope, outbox } = this.components
    const { store, batchBytes } = core
    const peerScope = scope.peerScope
    const sources = peerScope.everything
      ? [(after?: string) => store.scanFacets({ after, maxBytes: batchBytes })]
      : peerScope.types.map(
          (type) => (after?: string) =>
            store.scanFacetsOfType(type, { after, maxBytes: batchBytes }),
        )
    const seq = from?.seq ?? upTo
    for (let source = from?.source ?? 0; source < sources.length && !core.closed; source++) {
      let after = source === from?.source ? from.after : undefined
      do {
        const page = await sources[source]!(after)
        after = page.next
        const items = await this.pageInScope(
          page.facets,
          peerScope.everything ? undefined : peerScope.types[source],
        )
        const finished = source === sources.length - 1 && after === undefined
        const position: ScanPosition =
          after === undefined
            ? { seq, source: source + 1, after: undefined, scope: this.scopeDigest }
            : { seq, source, after, scope: this.scopeDigest }
        await outbox.sendBatch(
          items,
          finished && from === undefined ? upTo : 0,
          JSON.stringify(position),
        )
      } while (after !== undefined && !core.closed)
    }
  }

  /** The scan position in a peer's resume token, when it still applies here. */
  resumePosition(token: string | undefined, lastSeq: number): ScanPosition | undefined {
    if (token === undefined) return undefined
    let position: Partial<ScanPosition>
    try {
      position = JSON.parse(token) as Partial<ScanPosition>
    } catch {
      return undefined
    }
    const valid =
      typeof position === 'object' &&
      position !== null &&
      Number.isSafeInteger(position.seq) &&
      position.seq! > 0 &&
      position.seq! <= lastSeq &&
      Number.isSafeInteger(position.source) &&
      position.source! >= 0 &&
      (position.after === undefined || typeof position.after === 'string') &&
      position.scope === this.scopeDigest
    if (!valid) {
      // Made for another scope or another store: start over rather than skip anything.
      const { core } = this.components
      core.log.info({ peer: core.peer }, 'first-sync resume token does not apply; starting over')
      return undefined
    }
    return position as ScanPosition
  }

  /**
   * The facets of a scan page (whole objects of `type`, or of every type) that the peer
   * may have; objects of a type shared object by object are marked as held by the peer.
   */
  private async pageInScope(
    page: ScanPage,
    type: ObjectType | undefined,
  ): Promise<[FacetId, Uint8Array][]> {
    if (type === undefined) return page.map(({ facet, bytes }) => [facet, bytes])
    const { scope, shared } = this.components
    const perObject = scope.needsObjectVerdict(type)
    const admitted = new Set<ObjectId>()
    if (perObject) {
      for (const { facet, bytes } of page) {
        const parsed = parseFacetId(facet)
        if (parsed?.facet !== CORE_FACET) continue
        const content = readFacetBytes(bytes, { stored: true })
        let verdict =
          content !== undefined && scope.objectVerdict(type, parsed.object, content.fields, 'out')
        if (typeof verdict !== 'boolean') verdict = await verdict
        if (verdict) admitted.add(parsed.object)
      }
      await shared.markSent([...admitted])
    }
    return page
      .filter(({ facet }) => {
        const parsed = parseFacetId(facet)
        if (parsed === undefined || !scope.allows(type, parsed.facet)) return false
        return !perObject || admitted.has(parsed.object)
      })
      .map(({ facet, bytes }) => [facet, bytes])
  }
}

/**
 * Where an interrupted first sync from the peer stands, if one was; an unreadable record
 * only costs a first sync from the start.
 */
export async function readResumeRecord(core: SessionCore): Promise<FirstSyncRecord | undefined> {
  const record = await firstSyncResume.read(core.store, core.peer, { unreadable: 'absent' })
  if (record === undefined && (await firstSyncResume.has(core.store, core.peer))) {
    core.log.warn({ peer: core.peer }, 'unreadable first-sync resume record; starting over')
  }
  return record
}
