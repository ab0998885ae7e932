// Why a peer's facet, merged with what is stored, is refused: the document's own checks
// (remote-check.ts), a merge into an object of another type, the peer's scope, and the
// references it sets (on the merged result, so a peer sending only a change can't slip
// one past).
import { ObjectSyncError } from '../../errors.ts'
import {
  CORE_FACET,
  OBJECT_TYPES,
  parseFacetId,
  type FacetId,
  type ObjectId,
  type ObjectType,
} from '../../model/index.ts'
import { readFacetDoc, type Doc, type FacetContent } from '../facet-doc.ts'
import { typeIndexKey } from '../keys.ts'
import {
  checkRemoteFacet,
  outOfScope,
  OUT_OF_SCOPE,
  referencesRefused,
  storedStamps,
  type StoredStamps,
} from '../remote-check.ts'
import type { StoreCore } from './core.ts'
import type { Received } from './remote-apply.ts'

/** What is stored of the facet, read before merging (the merge moves its handle). */
export interface StoredFacet {
  stamps: StoredStamps
  /** Read only when references are checked. */
  fields: Record<string, unknown> | undefined
}

/** Reads what problemWith needs of the stored document; call before merging into it. */
export function storedFacet(doc: Doc, readFields: boolean): StoredFacet {
  return { stamps: storedStamps(doc), fields: readFields ? readFacetDoc(doc).fields : undefined }
}

/** Why the merged facet is refused (the checks in order), if it is. */
export async function problemWith(
  core: StoreCore,
  merged: {
    facet: FacetId
    received: Received
    next: Doc
    content: FacetContent
    stored: StoredFacet | undefined
    typeHere: ObjectType | undefined
  },
): Promise<ObjectSyncError | undefined> {
  const { facet, received, next, content, stored, typeHere } = merged
  const { object, facet: name } = parseFacetId(facet)!
  const refused = (problem: string) =>
    new ObjectSyncError(
      'INVALID_CHANGES',
      `the ${received.what} for ${facet} ${received.what === 'document' ? 'was' : 'were'} refused: ${problem}`,
    )
  const problem = checkRemoteFacet(
    object,
    name,
    next,
    content,
    typeHere,
    core.now(),
    stored?.stamps,
  )
  if (problem !== undefined) return refused(problem)
  const type = (typeHere ?? content.type) as ObjectType
  const mergeProblem =
    name === CORE_FACET ? await mergeTargetProblem(core, type, content) : undefined
  if (mergeProblem !== undefined) return refused(mergeProblem)
  if (received.accepts !== undefined && !received.accepts(type, name))
    return outOfScope(facet, type)
  if (received.admitsReference === undefined) return undefined
  const referenceProblem = await referencesRefused(
    received.admitsReference,
    type,
    stored?.fields,
    content.fields,
  )
  if (referenceProblem === undefined) return undefined
  return new ObjectSyncError('INVALID_CHANGES', refused(referenceProblem).message, {
    details: OUT_OF_SCOPE,
  })
}

/** A merge into an object held here as another type is refused (it would mix types). */
async function mergeTargetProblem(
  core: StoreCore,
  type: ObjectType,
  content: FacetContent,
): Promise<string | undefined> {
  for (const target of content.mergedInto ?? []) {
    for (const other of OBJECT_TYPES) {
      if (other === type) continue
      if ((await core.storage.get(typeIndexKey(other, target as ObjectId))) !== undefined) {
        return `mergedInto: ${target} is a ${other}, not a ${type}`
      }
    }
  }
  return undefined
}
