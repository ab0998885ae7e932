// Joining a facet's stored parts: whatever order a range read meets them in, the bytes
// start with the snapshot and Automerge loads the facet with every appended change.
import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import {
  addFacetPart,
  concatBytes,
  joinFacetParts,
  type FacetParts,
} from '../../src/store/object-store/facet-parts.ts'

describe('joinFacetParts', () => {
  it('puts the snapshot first though keys sort chunks before it, and loads', () => {
    let doc = A.from<{ n: number }>({ n: 0 })
    const snapshot = A.save(doc)
    const parts: FacetParts = { chunks: [] }
    for (let n = 1; n <= 3; n++) {
      doc = A.change(doc, (d) => {
        d.n = n
      })
      addFacetPart(parts, `d/x/core/c000000000${n}`, A.getLastLocalChange(doc)!)
    }
    addFacetPart(parts, 'd/x/core/s', snapshot)
    const joined = joinFacetParts(parts)
    expect(joined.subarray(0, snapshot.length)).toEqual(snapshot)
    const loaded = A.load<{ n: number }>(joined)
    expect(loaded.n).toBe(3)
    A.free(loaded)
    A.free(doc)
  })

  it('returns a lone part as it is, and nothing as empty bytes', () => {
    const only = new Uint8Array([1, 2, 3])
    expect(joinFacetParts({ snapshot: only, chunks: [] })).toBe(only)
    expect(joinFacetParts({ chunks: [only] })).toBe(only)
    expect(joinFacetParts({ chunks: [] })).toEqual(new Uint8Array(0))
    expect(concatBytes([only, new Uint8Array([4])])).toEqual(new Uint8Array([1, 2, 3, 4]))
  })
})
