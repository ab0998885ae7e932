// Object-level scope for one peer, as a session and its file transfers apply it: the one
// verdict on whether an object is in what this instance shares with the peer, and the
// checks built on it (what may come in from the peer, which feed entries may go out).
import {
  CORE_FACET,
  facetId,
  isObjectId,
  isObjectType,
  parseFacetId,
  type FacetId,
  type FacetName,
  type ObjectId,
  type ObjectType,
} from '../model/index.ts'
import { isObjectSyncError } from '../errors.ts'
import {
  readFacetBytes,
  type AdmitsReference,
  type FeedEntry,
  type ObjectStore,
} from '../store/index.ts'
import type { PeerScope } from './scope.ts'

type Fields = Readonly<Record<string, unknown>>

/**
 * Which rules a verdict applies. `out`: going to the peer — the type is shared, the object
 * matches the type's object rules and, for a file (unless everything is shared), so does
 * its owner. `out-ignoring-owner`: the same without the owner rule. `in`: coming from the
 * peer — the object matches the type's object rules (the store checks types and facets).
 */
export type VerdictDirection = 'in' | 'out' | 'out-ignoring-owner'

/** Whether an arriving item may come in: yes, no (out of scope), or no for a reason. */
export type Admission = boolean | { reason: string }

/** Reference targets' verdicts kept, at most, and for how long. */
const MAX_TARGETS = 10_000
const TARGETS_KEPT_MS = 10_000

export class SessionScope {
  readonly peerScope: PeerScope
  private readonly targets = new Map<ObjectId, boolean>()
  private targetsSince = 0
  /**
   * Why an object from the peer may not name a target (the store asks, on the merged
   * result): a peer may make objects name only objects shared with it, or not here — else
   * a peer shared only customers could attach transactions and files to an employee whose
   * id it learned from a reference. A target whose sharing depends on its local record (a
   * `groups` rule) and has none yet passes, as it would coming in. Undefined for a peer
   * shared everything.
   */
  readonly admitsReference: AdmitsReference | undefined
  /** Whether some shared type is shared object by object (else every object passes 'in'). */
  private readonly filtersObjects: boolean

  constructor(private readonly components: { scope: PeerScope; store: ObjectStore }) {
    this.peerScope = components.scope
    this.filtersObjects = this.peerScope.types.some(
      (type) => this.peerScope.objectFilter(type) !== undefined,
    )
    this.admitsReference = this.peerScope.everything
      ? undefined
      : (_type, field, target) => this.referenceProblem(field, target)
  }

  /**
   * Whether the object with these fields is in scope (see VerdictDirection); `undefined`
   * fields pass only a type with no object rules coming in. Synchronous unless a file's
   * owner must be read from the store, so the hot paths await only then.
   */
  objectVerdict(
    type: ObjectType,
    id: ObjectId,
    fields: Fields | undefined,
    direction: 'in' | 'out-ignoring-owner',
  ): boolean
  objectVerdict(
    type: ObjectType,
    id: ObjectId,
    fields: Fields,
    direction: 'out',
  ): boolean | Promise<boolean>
  objectVerdict(
    type: ObjectType,
    id: ObjectId,
    fields: Fields | undefined,
    direction: VerdictDirection,
  ): boolean | Promise<boolean> {
    const filter = this.peerScope.objectFilter(type)
    if (direction === 'in') {
      return filter === undefined || (fields !== undefined && filter(fields, id, 'in'))
    }
    if (fields === undefined || !this.peerScope.types.includes(type)) return false
    if (filter !== undefined && !filter(fields, id, 'out')) return false
    return direction === 'out' && this.ownerRuleFor(type) ? this.ownerInScope(fields) : true
  }

  /** Whether the peer may see and send this facet of objects of `type`. */
  allows(type: ObjectType, facet: FacetName): boolean {
    return this.peerScope.allows(type, facet)
  }

  /** Whether objects of `type` going out need a verdict each (else all of them go). */
  needsObjectVerdict(type: ObjectType): boolean {
    return this.peerScope.objectFilter(type) !== undefined || this.ownerRuleFor(type)
  }

  /** Feed entries whose facet the peer may have, each facet once. */
  facetsInScope(entries: readonly FeedEntry[]): FeedEntry[] {
    const seen = new Set<FacetId>()
    return entries.filter((entry) => {
      if (seen.has(entry.facet) || !this.peerScope.allows(entry.type, facetNameOf(entry.facet))) {
        return false
      }
      seen.add(entry.facet)
      return true
    })
  }

  /**
   * Per item, whether its object may come from this peer: for a type shared object by
   * object, the object as it is here must be in the peer's scope, or, for an object new
   * here, as it arrives (its core must come in the same batch). A peer can't push into
   * us what we don't share with it.
   */
  async admittedObjects(items: readonly [FacetId, Uint8Array][]): Promise<Admission[]> {
    if (!this.filtersObjects) return items.map(() => true)
    const arrivingCores = new Map<ObjectId, Uint8Array>()
    for (const [facet, bytes] of items) {
      const parsed = parseFacetId(facet)
      if (parsed?.facet === CORE_FACET) arrivingCores.set(parsed.object, bytes)
    }
    const verdicts = new Map<ObjectId, Admission>()
    const admitted: Admission[] = []
    for (const [facet, bytes] of items) {
      const parsed = parseFacetId(facet)
      // A malformed id: the store refuses it and says why.
      if (parsed === undefined) {
        admitted.push(true)
        continue
      }
      let verdict = verdicts.get(parsed.object)
      if (verdict === undefined) {
        try {
          verdict = await this.admission(parsed.object, bytes, arrivingCores.get(parsed.object))
        } catch (error) {
          // An object whose stored document doesn't load is refused on its own: the
          // session and the rest of the batch go on. Anything else (storage failing, the
          // store closing) ends the session, and the batch comes again in the next.
          if (!isObjectSyncError(error, 'DOCUMENT_CORRUPT')) throw error
          verdict = { reason: `its object here could not be read: ${error.message}` }
        }
        verdicts.set(parsed.object, verdict)
      }
      admitted.push(verdict)
    }
    return admitted
  }

  private async admission(
    object: ObjectId,
    bytes: Uint8Array,
    arriving: Uint8Array | undefined,
  ): Promise<boolean> {
    const here = await this.components.store.get(object)
    // The type as it is here; for an object new here, as its bytes say. Bytes that
    // don't read on their own (changes on top of what we hold) can't pass as anything.
    const type = here?.type ?? readFacetBytes(bytes)?.type
    if (type === undefined || !isObjectType(type)) return false
    const fields =
      here?.fields ?? (arriving === undefined ? undefined : readFacetBytes(arriving)?.fields)
    return this.objectVerdict(type, object, fields, 'in')
  }

  private async referenceProblem(field: string, target: ObjectId): Promise<string | undefined> {
    // Kept a short while: a target's sharing may change (its fields, its groups).
    if (Date.now() - this.targetsSince > TARGETS_KEPT_MS) {
      this.targets.clear()
      this.targetsSince = Date.now()
    }
    let shared = this.targets.get(target)
    if (shared === undefined) {
      const core = await this.components.store.getFacetBytes(facetId(target, CORE_FACET))
      const named = core === undefined ? undefined : readFacetBytes(core, { stored: true })
      shared =
        named === undefined ||
        !isObjectType(named.type) ||
        (this.peerScope.types.includes(named.type) &&
          this.objectVerdict(named.type, target, named.fields, 'in'))
      // A bounded memo: many transactions name few persons.
      if (this.targets.size >= MAX_TARGETS) this.targets.clear()
      this.targets.set(target, shared)
    }
    return shared
      ? undefined
      : `${field} names ${target}, which this instance does not share with the peer`
  }

  /** Files go to a peer only while their owner does too (when the scope could differ). */
  private ownerRuleFor(type: ObjectType): boolean {
    return type === 'file' && !this.peerScope.everything
  }

  /** Whether the owner a file's fields name is in this peer's scope (no owner: yes). */
  private async ownerInScope(fields: Fields): Promise<boolean> {
    const ownerId = fields.ownerId
    if (ownerId === undefined) return true
    if (typeof ownerId !== 'string' || !isObjectId(ownerId)) return false
    const core = await this.components.store.getFacetBytes(facetId(ownerId, CORE_FACET))
    const owner = core === undefined ? undefined : readFacetBytes(core, { stored: true })
    if (owner === undefined || owner.deleted || !isObjectType(owner.type)) return false
    return this.objectVerdict(owner.type, ownerId, owner.fields, 'out-ignoring-owner')
  }
}

export function facetNameOf(facet: FacetId): FacetName {
  return facet.slice(facet.indexOf('/') + 1) as FacetName
}
