// Changes received from peers: a facet's changes, or its whole document, merged into what
// is stored here, checked, and committed with a feed entry naming the peer. What does not
// parse or check is refused with INVALID_CHANGES, and nothing of it is stored.
import * as A from '@automerge/automerge'
import { ObjectSyncError, isObjectSyncError } from '../../errors.ts'
import {
  CORE_FACET,
  facetId,
  parseFacetId,
  type FacetId,
  type FacetName,
  type InstanceId,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import type { CommitQueue } from '../commit-queue.ts'
import { deleteConflict, deleteMeetsEdit, resolveFacet } from '../conflicts.ts'
import { readFacetDoc, type Doc, type FacetContent } from '../facet-doc.ts'
import { opNumbersPastOps, refuseOversized } from './claims.ts'
import { conflictKey, deleteConflictKey, snapshotKey, typeIndexKey } from '../keys.ts'
import { concatBytes } from './facet-parts.ts'
import { problemWith, storedFacet } from './remote-refusals.ts'
import type { StorageOp } from '../storage.ts'
import type { StoreCore } from './core.ts'
import { reloadableSave, type LoadedFacet, type LoadedObject } from './loaded-object.ts'
import type { Accepts, AdmitsReference, AppliedChanges } from './types.ts'
import { fieldsOf } from './views.ts'

const EMPTY = new Uint8Array(0)
const NO_OPS: readonly StorageOp[] = []

/** What was received for one facet, and how to merge it. */
export interface Received {
  what: 'changes' | 'document'
  /** Merges what was received into the stored document, or makes one (`undefined`). */
  integrate: (base: Doc | undefined) => Doc
  /** A whole document as received: stored as it is when the facet is new here. */
  storeAsReceived?: Uint8Array | undefined
  /** Which facets the sender may give us; others are refused. */
  accepts?: Accepts | undefined
  /** Which objects the sender may make objects name; others are refused. */
  admitsReference?: AdmitsReference | undefined
  /** The peer it came from, kept in the feed (absent: this instance). */
  from?: InstanceId | undefined
}

/** The first facet of an object that arrived from a peer. */
export interface NewFacet {
  object: ObjectId
  type: ObjectType
  facet: FacetName
  /** The merged document, freed once stored; written with save() unless `bytes` are given. */
  doc?: Doc | undefined
  bytes?: Uint8Array | undefined
  extraOps?: readonly StorageOp[]
  from?: InstanceId | undefined
}

/** A merge that changed a facet, on its way to storage. */
interface Merge {
  result: AppliedChanges
  name: FacetName
  /** The object as it was loaded here; undefined when it is new here. */
  loaded: LoadedObject | undefined
  state: LoadedFacet | undefined
  next: Doc
  content: FacetContent
  before: A.Heads
  received: Received
}

export class RemoteApply {
  /** Batches of remote documents that have looked up which objects exist. */
  private prefetches = 0
  /** Objects created while a batch's lookup may still say they are absent. */
  private readonly createdDuringPrefetch = new Set<ObjectId>()

  constructor(private readonly core: StoreCore) {}

  /** A batch looks up which of its objects exist; until it ends, creations are noted. */
  beginPrefetch(): void {
    this.prefetches++
  }

  endPrefetch(): void {
    if (--this.prefetches === 0) this.createdDuringPrefetch.clear()
  }

  /** Whether the object was created since a running batch looked it up. */
  createdSincePrefetch(object: ObjectId): boolean {
    return this.createdDuringPrefetch.has(object)
  }

  applyChanges(
    facet: FacetId,
    changes: readonly Uint8Array[],
    from: InstanceId | undefined,
  ): Promise<AppliedChanges> {
    return this.apply(facet, {
      what: 'changes',
      from,
      integrate: (base) => {
        refuseOversized(concatBytes(changes), 'changes')
        const start = base ?? A.init<never>({ actor: this.core.actor })
        try {
          return A.applyChanges(start, [...changes])[0]
        } catch (error) {
          if (base === undefined) A.free(start)
          throw error
        }
      },
    })
  }

  applyDocument(
    facet: FacetId,
    bytes: Uint8Array,
    from: InstanceId | undefined,
  ): Promise<AppliedChanges> {
    return this.apply(facet, this.receivedDocument(bytes, undefined, from))
  }

  /** A whole document received: loaded, or merged into the stored one. */
  receivedDocument(
    bytes: Uint8Array,
    accepts: Accepts | undefined,
    from: InstanceId | undefined,
    admitsReference?: AdmitsReference,
  ): Received {
    return {
      what: 'document',
      integrate: (base) => {
        refuseOversized(bytes, 'document', base)
        return base === undefined
          ? A.load<never>(bytes, { actor: this.core.actor })
          : A.loadIncremental(base, bytes)
      },
      storeAsReceived: bytes,
      accepts,
      admitsReference,
      from,
    }
  }

  /** Objects new here are not kept loaded, as with local creates. */
  private async apply(facet: FacetId, received: Received): Promise<AppliedChanges> {
    const commits = this.core.openCommits()
    const parsed = parseFacetId(facet)
    if (parsed === undefined) {
      throw new ObjectSyncError('INVALID_CHANGES', `${JSON.stringify(facet)} is not a facet id`)
    }
    return this.core.locks.run(parsed.object, () => this.applyLocked(commits, facet, received))
  }

  /** Integrates, checks and commits; the caller holds the object's lock. */
  async applyLocked(
    commits: CommitQueue,
    facet: FacetId,
    received: Received,
  ): Promise<AppliedChanges> {
    const core = this.core
    const { object, facet: name } = parseFacetId(facet)!
    const loaded = await core.load(object)
    const state = loaded?.facets.get(name)
    const before = state === undefined ? [] : A.getHeads(state.doc)
    // What is stored, read before merging (the merge moves the stored document's handle).
    const stored =
      state === undefined
        ? undefined
        : storedFacet(state.doc, received.admitsReference !== undefined)
    let next: Doc
    try {
      next = received.integrate(state?.doc)
    } catch (error) {
      if (state !== undefined) discard(core, object, name, state.doc, loaded, state)
      if (isObjectSyncError(error, 'INVALID_CHANGES')) throw error
      throw new ObjectSyncError(
        'INVALID_CHANGES',
        `the ${received.what} for ${facet} could not be parsed`,
        { cause: error },
      )
    }
    // Whatever Automerge applied — the bytes received, and changes that waited in the
    // document for a dependency these bring — numbers its ops within the document's ops.
    const opProblem = opNumbersPastOps(next, before)
    if (opProblem !== undefined) {
      discard(core, object, name, next, loaded, state)
      throw new ObjectSyncError(
        'INVALID_CHANGES',
        `the ${received.what} for ${facet} was refused: ${opProblem}`,
      )
    }
    const after = A.getHeads(next)
    const changed = !sameHeads(before, after)
    const content = readFacetDoc(next)
    const type = (loaded?.type ?? content.type) as ObjectType
    const problem = changed
      ? await problemWith(core, { facet, received, next, content, stored, typeHere: loaded?.type })
      : undefined
    if (problem !== undefined) {
      discard(core, object, name, next, loaded, state)
      throw problem
    }
    const result: AppliedChanges = {
      facet,
      object,
      type,
      changed,
      // A facet new here changed in every field it has; no need to diff its history.
      fields: !changed
        ? []
        : state === undefined
          ? fieldsOf(content)
          : changedFields(next, before, after),
      heads: after,
      missingDeps: A.getMissingDeps(next, []),
      storedAsReceived: changed && state === undefined && received.storeAsReceived !== undefined,
    }
    if (!changed) {
      replaceDoc(core, object, loaded, name, next, state)
      return result
    }
    await this.record(commits, { result, name, loaded, state, next, content, before, received })
    return result
  }

  /**
   * Commits a merge that changed the facet. A merge that left concurrent values, or set
   * a delete against an edit, puts the object in the conflict inbox in the same batch —
   * also when the object is new here.
   */
  private async record(commits: CommitQueue, merge: Merge): Promise<void> {
    const { result, name, loaded, state, next, content, before, received } = merge
    const { object, type } = result
    const inbox: StorageOp[] = []
    if (resolveFacet(next).conflicts.length > 0) {
      inbox.push({ type: 'put', key: conflictKey(object), value: EMPTY })
    }
    // A merge decided elsewhere arrives in the core facet; the index follows in the batch.
    // Only the core facet says it: a custom facet's change leaves the index as it is.
    const mergedInto = content.mergedInto ?? []
    const identityOps = name === CORE_FACET ? this.core.identities.indexOps(object, mergedInto) : []
    if (loaded === undefined) {
      if (name === CORE_FACET && deleteConflict(content) !== undefined) {
        inbox.push({ type: 'put', key: deleteConflictKey(object), value: EMPTY })
      }
      await this.commitNewObject(commits, {
        object,
        type,
        facet: name,
        doc: next,
        bytes: received.storeAsReceived,
        extraOps: [...inbox, ...identityOps],
        from: received.from,
      })
    } else {
      if (
        name === CORE_FACET &&
        deleteMeetsEdit(
          { deleted: state?.doc.deleted === true, heads: before },
          { deleted: content.deleted, heads: result.heads, changedFields: result.fields },
        )
      ) {
        inbox.push({ type: 'put', key: deleteConflictKey(object), value: EMPTY })
      }
      await this.core.commitChanges(commits, object, loaded, new Map([[name, next]]), {
        appended: new Map([[name, A.getChangesSince(next, before)]]),
        extraOps: [...inbox, ...identityOps],
        from: received.from,
      })
    }
    if (identityOps.length > 0) {
      // The object's group changed: its survivors, before and after, read differently.
      const { identities } = this.core
      const before = identities.survivorOf(object)
      identities.set(object, mergedInto)
      const affected = [before, identities.survivorOf(object)].filter((id) => id !== object)
      this.core.announceLater(affected, received.from)
    }
    if (inbox.length > 0) this.core.conflictsChanged(object)
  }

  /** Stores the first facet of an object that arrived from a peer, and lets it go. */
  async commitNewObject(commits: CommitQueue, stored: NewFacet): Promise<void> {
    const { object, type, facet, doc, from } = stored
    try {
      await commits.submit(
        [
          ...(stored.extraOps ?? NO_OPS),
          { type: 'put', key: typeIndexKey(type, object), value: EMPTY },
          {
            type: 'put',
            key: snapshotKey(object, facet),
            value: stored.bytes ?? savedToStore(doc!),
          },
        ],
        [{ facet: facetId(object, facet), object, type, ...(from === undefined ? {} : { from }) }],
      )
      // A batch that looked this object up before it existed must not create it twice.
      if (this.prefetches > 0) this.createdDuringPrefetch.add(object)
    } finally {
      if (doc !== undefined) A.free(doc)
    }
  }
}

/** A new facet's document to store, refused when its save would not load again. */
function savedToStore(doc: Doc): Uint8Array {
  const saved = reloadableSave(doc)
  if (saved === undefined) {
    throw new ObjectSyncError(
      'INVALID_CHANGES',
      'the changes were refused: their document, once saved, does not load again',
    )
  }
  return saved
}

/** After a no-op apply the new handle replaces the old one (the old is now outdated). */
function replaceDoc(
  core: StoreCore,
  id: ObjectId,
  loaded: LoadedObject | undefined,
  facet: FacetName,
  doc: Doc,
  state: LoadedFacet | undefined,
): void {
  if (loaded === undefined || state === undefined) {
    A.free(doc)
    return
  }
  loaded.facets.set(facet, { ...state, doc })
  core.cache.get(id)
}

/**
 * Drops a facet whose handle may be unusable after a failed or refused apply. `latest`
 * shares its memory with the cached handle, so only it is freed for that facet.
 */
function discard(
  core: StoreCore,
  id: ObjectId,
  facet: FacetName,
  latest: Doc,
  loaded: LoadedObject | undefined,
  state: LoadedFacet | undefined,
): void {
  A.free(latest)
  if (loaded === undefined || state === undefined) return
  loaded.facets.delete(facet)
  core.dropFromCache(id)
}

function changedFields(doc: Doc, before: A.Heads, after: A.Heads): string[] {
  const names = new Set<string>()
  for (const patch of A.diff(doc, before, after)) {
    const [root, name] = patch.path
    if (root === 'fields' && typeof name === 'string') names.add(name)
    else if (root === 'deleted') names.add('deleted')
  }
  return [...names].sort()
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((head) => b.includes(head))
}
