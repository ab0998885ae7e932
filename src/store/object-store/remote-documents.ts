// Many whole facets from a peer at once: the bulk path of a first sync, a catch-up and a
// peer's bulk edit. A facet still in the form it was created in, of an object not here
// yet, is checked by decoding its one change (no document load) and stored as received;
// whether its object exists is read for the whole batch in one getMany. A facet whose
// bytes continue the line of changes held here has the new changes checked and appended
// as they came (extendLine; read ahead on the worker for a large batch: line-read.ts).
// Every other facet takes the general remote path.
import { startsWith } from '../../bytes.ts'
import { hash } from 'node:crypto'
import { ObjectSyncError, isObjectSyncError } from '../../errors.ts'
import {
  CORE_FACET,
  OBJECT_TYPES,
  parseFacetId,
  type FacetId,
  type FacetName,
  type InstanceId,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import type { CommitQueue } from '../commit-queue.ts'
import { sameValue } from '../facet-doc.ts'
import { readLinearFacet, type LinearFacet } from '../facet-doc/linear.ts'
import { changeChunkEnd, genesisPrefix } from '../facet-doc/read-created.ts'
import { chunkKey, typeIndexKey } from '../keys.ts'
import { joinFacetParts } from './facet-parts.ts'
import { withChunk } from './recent-parts.ts'
import type { KeyedMutex } from '../keyed-mutex.ts'
import type { LruCache } from '../lru-cache.ts'
import {
  checkFields,
  checkStampTimes,
  outOfScope,
  referenceOutOfScope,
  referencesRefused,
} from '../remote-check.ts'
import type { StoreCore } from './core.ts'
import { isLineRead, lineStoredUpTo, type LineRead } from './line-read.ts'
import type { QuickRead, QuickReadResult } from './quick-read.ts'
import { readInline } from './store-worker.ts'
import type { LoadedObject, StoredParts } from './loaded-object.ts'
import type { RemoteApply } from './remote-apply.ts'
import type { Accepts, AdmitsReference, AppliedChanges } from './types.ts'
import { copyFields, copyMeta, fieldsOf, grownLines } from './views.ts'

/** What every item of one batch shares. */
interface Batch {
  commits: CommitQueue
  accepts: Accepts | undefined
  admitsReference: AdmitsReference | undefined
  from: InstanceId | undefined
  /** Type-index key → whether it was stored when the batch looked. */
  exists: Map<string, boolean>
}

export class RemoteDocuments {
  private readonly locks: KeyedMutex<ObjectId>
  private readonly cache: LruCache<ObjectId, LoadedObject>

  constructor(
    private readonly core: StoreCore,
    private readonly remote: RemoteApply,
  ) {
    this.locks = core.locks
    this.cache = core.cache
  }

  /** Per item, what changed or why it was refused (INVALID_CHANGES). */
  async applyDocuments(
    items: readonly (readonly [FacetId, Uint8Array])[],
    accepts: Accepts | undefined,
    from: InstanceId | undefined,
    admitsReference?: AdmitsReference,
    /** The items' quick reads, made ahead (StoreWorker); else read now. */
    reads?: readonly QuickReadResult[],
  ): Promise<(AppliedChanges | ObjectSyncError)[]> {
    const commits = this.core.openCommits()
    const quick = reads?.length === items.length ? reads : readInline(items)
    // Whether each object exists, whatever type the sender claims for it: a facet that
    // names another type than the object here has must not pass as a new object.
    const probes = quick.map((read) =>
      read instanceof ObjectSyncError ||
      read === undefined ||
      isLineRead(read) ||
      this.cache.has(read.object)
        ? undefined
        : OBJECT_TYPES.map((type) => typeIndexKey(type, read.object)),
    )
    this.remote.beginPrefetch()
    try {
      const wanted = probes.flatMap((keys) => keys ?? [])
      const found = await this.core.storage.getMany(wanted)
      const exists = new Map(wanted.map((key, i) => [key, found[i] !== undefined]))
      const batch: Batch = { commits, accepts, admitsReference, from, exists }
      return await Promise.all(
        items.map(([facet, bytes], index) =>
          this.applyItem(batch, facet, bytes, quick[index], probes[index]),
        ),
      )
    } finally {
      this.remote.endPrefetch()
    }
  }

  private async applyItem(
    batch: Batch,
    facet: FacetId,
    bytes: Uint8Array,
    read: QuickReadResult,
    probe: string[] | undefined,
  ): Promise<AppliedChanges | ObjectSyncError> {
    if (read instanceof ObjectSyncError) return read
    try {
      // The general path: load, merge and check, under the object's lock.
      const merge = () =>
        this.remote.applyLocked(
          batch.commits,
          facet,
          this.remote.receivedDocument(bytes, batch.accepts, batch.from, batch.admitsReference),
        )
      if (read === undefined || isLineRead(read)) {
        return await this.locks.run(parseFacetId(facet)!.object, async () => {
          return (await this.extendLine(batch, facet, bytes, read)) ?? (await merge())
        })
      }
      if (batch.accepts !== undefined && !batch.accepts(read.content.type, read.facet)) {
        return outOfScope(facet, read.content.type)
      }
      return await this.locks.run(read.object, () => {
        const absent =
          probe !== undefined &&
          probe.every((key) => batch.exists.get(key) === false) &&
          !this.remote.createdSincePrefetch(read.object) &&
          !this.cache.has(read.object)
        return absent ? this.storeAsReceived(batch, facet, bytes, read) : merge()
      })
    } catch (error) {
      if (isObjectSyncError(error, 'INVALID_CHANGES')) return error
      throw error
    }
  }

  /**
   * The fast path of an edit: the facet here is a line of changes (facet-doc/linear.ts)
   * that the bytes received continue, byte for byte — the changes after it are checked as
   * the line read and appended as they came, without loading a document. Undefined, with
   * nothing done, for anything else (the caller merges as usual). Call under the lock.
   */
  private async extendLine(
    batch: Batch,
    facet: FacetId,
    bytes: Uint8Array,
    /** The bytes read as a line ahead, on the worker (line-read.ts). */
    ahead: LineRead | undefined,
  ): Promise<AppliedChanges | ObjectSyncError | undefined> {
    const { object, facet: name } = parseFacetId(facet)!
    if (this.cache.has(object)) return undefined
    const parts = await this.core.readParts(object)
    const part = parts.get(name)
    if (part === undefined || part.chunks.length + 1 >= this.core.compactAfter) return undefined
    const stored = joinFacetParts(part)
    if (!startsWith(bytes, stored)) return undefined
    // What is here already (sent again, as a peer catching up sends back what it had
    // from us): nothing to do.
    if (bytes.length === stored.length) return sentAgain(facet, object, stored)
    // Bytes that don't decode are refused by the general path, which says why.
    const line =
      ahead !== undefined
        ? lineStoredUpTo(ahead, stored.length)
        : orNothing(() =>
            readLinearFacet(bytes, { fieldsAt: stored.length, storedUpTo: stored.length }),
          )
    // The new changes must start where the stored ones end.
    const from = line?.ends.indexOf(stored.length) ?? -1
    if (line === undefined || from < 0) return undefined
    const type = line.type
    for (const [other, otherPart] of parts) {
      // The object's type as its core facet says (a custom facet agrees, or is refused).
      if (
        other === CORE_FACET &&
        other !== name &&
        genesisPrefix(joinFacetParts(otherPart))?.type !== type
      ) {
        return undefined
      }
    }
    if (batch.accepts !== undefined && !batch.accepts(type, name)) return outOfScope(facet, type)
    // Stamps and references only as the new changes set them.
    const touched = new Set(line.touched.slice(from + 1).flat())
    const problem =
      checkFields(name, type, line) ?? checkStampTimes(line.meta, this.core.now(), touched)
    if (problem !== undefined) {
      return new ObjectSyncError(
        'INVALID_CHANGES',
        `the document for ${facet} was refused: ${problem}`,
      )
    }
    const referenceProblem =
      batch.admitsReference === undefined
        ? undefined
        : await referencesRefused(batch.admitsReference, type, line.fieldsAt, line.fields)
    if (referenceProblem !== undefined) return referenceOutOfScope(facet, referenceProblem)
    const chunk = bytes.slice(stored.length)
    await batch.commits.submit(
      [{ type: 'put', key: chunkKey(object, name, part.last + 1), value: chunk }],
      [{ facet, object, type, ...(batch.from === undefined ? {} : { from: batch.from }) }],
    )
    this.keepGrown(object, name, parts, withChunk(parts, name, part.last + 1, chunk), line)
    return {
      facet,
      object,
      type,
      changed: true,
      // What differs from the stored state (a field set and deleted again did not change).
      fields: [...new Set(line.touched.slice(from + 1).flat())]
        .filter((field) => !sameValue(line.fieldsAt?.[field], line.fields[field]))
        .sort(),
      heads: [...line.heads],
      missingDeps: [],
      // The facet is now the bytes received, stored and appended: the peer holds it, and
      // sending it back (as the bulk edits did) cost both sides a tenth of their time.
      storedAsReceived: true,
      continuedLine: true,
    }
  }

  /**
   * Keeps what an object appended to reads as: its parts grown (`next`, `line` the facet
   * `name` grown) and, for an object of one facet, its content for the projection behind, as a
   * first sync's new objects are kept — it may reach the object after its parts have left
   * the recent ones (a catch-up, a bulk edit).
   */
  private keepGrown(
    object: ObjectId,
    name: FacetName,
    parts: StoredParts,
    next: StoredParts,
    line: LinearFacet,
  ): void {
    this.core.recentParts.set(object, next)
    grownLines(parts, next, name, line)
    if (parts.size !== 1) return
    const content = {
      type: line.type,
      fields: copyFields(line.fields),
      meta: copyMeta(line.meta),
      deleted: false,
      heads: [...line.heads],
    }
    this.core.received.add(object, { facet: name, content })
  }

  /** The fast path: a new object's facet, checked from its one change, stored as it came. */
  private async storeAsReceived(
    batch: Batch,
    facet: FacetId,
    bytes: Uint8Array,
    read: QuickRead,
  ): Promise<AppliedChanges | ObjectSyncError> {
    const problem = read.fieldsProblem ?? checkStampTimes(read.content.meta, this.core.now())
    if (problem !== undefined) {
      return new ObjectSyncError(
        'INVALID_CHANGES',
        `the document for ${facet} was refused: ${problem}`,
      )
    }
    const referenceProblem =
      batch.admitsReference === undefined
        ? undefined
        : await referencesRefused(
            batch.admitsReference,
            read.content.type,
            undefined,
            read.content.fields,
          )
    if (referenceProblem !== undefined) return referenceOutOfScope(facet, referenceProblem)
    await this.remote.commitNewObject(batch.commits, {
      object: read.object,
      type: read.content.type,
      facet: read.facet,
      bytes,
      from: batch.from,
    })
    this.core.received.add(read.object, { facet: read.facet, content: read.content })
    return {
      facet,
      object: read.object,
      type: read.content.type,
      changed: true,
      fields: fieldsOf(read.content),
      heads: read.content.heads,
      missingDeps: [],
      storedAsReceived: true,
    }
  }
}

/**
 * The type and the head of a facet stored as its genesis and change chunks each made after
 * the one before it (it names it among its dependencies, and nothing not before it): then
 * the last change is the one head. Undefined for any other form (concurrent changes, a
 * snapshot), which the merge path answers.
 */
function lastChangeOf(bytes: Uint8Array): { type: ObjectType; heads: string[] } | undefined {
  const found = genesisPrefix(bytes)
  if (found === undefined) return undefined
  const before = new Set([found.prefix.hash])
  let previous = found.prefix.hash
  let start = found.prefix.change.length
  for (;;) {
    const end = changeChunkEnd(bytes, start)
    if (end === undefined) return undefined
    const deps = dependenciesOf(bytes, start, end)
    if (deps?.includes(previous) !== true || !deps.every((dep) => before.has(dep))) {
      return undefined
    }
    previous = hash('sha256', bytes.subarray(start + 8, end), 'hex')
    if (end === bytes.length) return { type: found.type, heads: [previous] }
    before.add(previous)
    start = end
  }
}

/** The dependencies a change chunk (from `start` to `end` in `bytes`) names, as hex. */
function dependenciesOf(bytes: Uint8Array, start: number, end: number): string[] | undefined {
  let offset = start + 9 // magic, checksum, type
  while ((bytes[offset] ?? 0) & 0x80) offset++ // the body's length
  offset++
  const count = bytes[offset++]
  if (count === undefined || count & 0x80 || offset + count * 32 > end) return undefined
  const deps: string[] = []
  for (let i = 0; i < count; i++, offset += 32) {
    deps.push(Buffer.from(bytes.buffer, bytes.byteOffset + offset, 32).toString('hex'))
  }
  return deps
}

/** The answer to a facet sent exactly as stored: unchanged, at its last change's hash. */
function sentAgain(
  facet: FacetId,
  object: ObjectId,
  stored: Uint8Array,
): AppliedChanges | undefined {
  const here = lastChangeOf(stored)
  if (here === undefined) return undefined
  const { type, heads } = here
  return {
    facet,
    object,
    type,
    changed: false,
    fields: [],
    heads,
    missingDeps: [],
    storedAsReceived: false,
  }
}

function orNothing<T>(read: () => T | undefined): T | undefined {
  try {
    return read()
  } catch {
    return undefined
  }
}
