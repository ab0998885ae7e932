// What changing a peer's scope would change of what it is shared: the records in the
// store the new scope takes and the current one does not (they would be sent), and those
// the current one takes and the new one does not (withdrawn). Each verdict is the one a
// session gives (a file goes with its owner), so the preview can't disagree with what the
// next session does. The store is read a page at a time through the type index, each
// object's core read without loading its document; only counts and a few examples are
// kept, however many records there are.
import {
  CORE_FACET,
  OBJECT_TYPES,
  objectLabel,
  parseFacetId,
  type ObjectId,
  type ObjectType,
} from '../model/index.ts'
import { readFacetBytes, type ObjectStore } from '../store/index.ts'
import type { PeerScope } from './scope.ts'
import { SessionScope } from './session-scope.ts'

/** Examples of each kind kept at most: enough to recognize the change, the counts say the rest. */
export const SCOPE_CHANGE_EXAMPLES = 5
/** Stored facet bytes read per page of the scan (the first sync reads its pages so too). */
const PAGE_BYTES = 1 << 20

export interface ScopeChangeExample {
  id: ObjectId
  type: ObjectType
  /** The record's name as people read it (objectLabel). */
  label: string
}

export interface ScopeChange {
  /** Records per type that would be sent: in the new scope, not in the current one. */
  send: Partial<Record<ObjectType, number>>
  /** Records per type that would stop being shared: in the current scope, not in the new one. */
  withdraw: Partial<Record<ObjectType, number>>
  /** The first few of each, in type and id order. */
  examples: { send: ScopeChangeExample[]; withdraw: ScopeChangeExample[] }
}

/**
 * The records that going from scope `from` to scope `to` sends and withdraws. Deleted
 * records and those merged into another are left out, as the object list leaves them out.
 */
export async function scopeChange(
  store: ObjectStore,
  from: PeerScope,
  to: PeerScope,
): Promise<ScopeChange> {
  const before = new SessionScope({ scope: from, store })
  const after = new SessionScope({ scope: to, store })
  const change: ScopeChange = { send: {}, withdraw: {}, examples: { send: [], withdraw: [] } }
  const note = (kind: 'send' | 'withdraw', example: ScopeChangeExample) => {
    change[kind][example.type] = (change[kind][example.type] ?? 0) + 1
    if (change.examples[kind].length < SCOPE_CHANGE_EXAMPLES) change.examples[kind].push(example)
  }
  for (const type of OBJECT_TYPES) {
    if (!from.types.includes(type) && !to.types.includes(type)) continue
    let next: string | undefined
    do {
      const page = await store.scanFacetsOfType(type, { after: next, maxBytes: PAGE_BYTES })
      next = page.next
      for (const { facet, bytes } of page.facets) {
        const parsed = parseFacetId(facet)
        if (parsed?.facet !== CORE_FACET) continue
        const content = readFacetBytes(bytes, { stored: true })
        if (content === undefined || content.deleted || (content.mergedInto?.length ?? 0) > 0) {
          continue
        }
        const id = parsed.object
        const was = await before.objectVerdict(type, id, content.fields, 'out')
        const will = await after.objectVerdict(type, id, content.fields, 'out')
        if (was === will) continue
        note(will ? 'send' : 'withdraw', { id, type, label: objectLabel(type, content.fields) })
      }
    } while (next !== undefined)
  }
  return change
}
