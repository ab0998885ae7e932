// A facet read and edited as a line of changes (facet-doc/linear.ts) against Automerge:
// what the reader takes must read as the loaded document reads, and an edit written
// without loading must be, byte for byte, the change Automerge.change writes on the
// loaded document — a change's hash is its identity on every instance.
import * as A from '@automerge/automerge'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { InstanceId } from '../../src/model/index.ts'
import {
  changeFacetDoc,
  encodeNewFacet,
  mergeFacetDoc,
  readFacetDoc,
  tombstoneFacetDoc,
  type FacetDoc,
  type WriteStamp,
} from '../../src/store/facet-doc.ts'
import { readLinearFacet } from '../../src/store/facet-doc/linear.ts'
import { writeLinearEdit } from '../../src/store/facet-doc/linear-edit.ts'

const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }
const NAMES = ['firstName', 'lastName', 'email', 'phone', 'title', 'birthday']
const actors = ['aaaaaaaa', 'bbbbbbbb', 'cccccccc']

const stampOf = (at: number, by = 'instance-a'): WriteStamp => ({ by: by as InstanceId, at })

function join(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts)
}

/** What a loaded document reads as, in the form the linear reader answers. */
function loaded(bytes: Uint8Array) {
  const doc = A.load<FacetDoc>(bytes)
  try {
    const content = readFacetDoc(doc)
    return { ...content, heads: A.getHeads(doc) }
  } finally {
    A.free(doc)
  }
}

function asRead(bytes: Uint8Array) {
  const facet = readLinearFacet(bytes)
  if (facet === undefined) return undefined
  const { type, fields, meta, deleted, heads } = facet
  return { type, fields, meta, deleted, heads }
}

const value = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.boolean(),
  fc.constant(null),
)
const patch = fc.dictionary(fc.constantFrom(...NAMES), value, { minKeys: 1, maxKeys: 4 })

describe('a facet as a line of changes', () => {
  it('reads as Automerge reads it, and writes the change Automerge writes', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...NAMES), fc.string({ maxLength: 8 }), { minKeys: 1 }),
        fc.array(fc.tuple(patch, fc.constantFrom(...actors), fc.boolean()), {
          minLength: 1,
          maxLength: 6,
        }),
        (initial, edits) => {
          const parts = [encodeNewFacet('person', initial, stampOf(1_000_000), 'dddddddd')]
          let at = 2_000_000
          for (const [edit, actor, forceFirst] of edits) {
            at += 1500
            const bytes = join(parts)
            const stamp = stampOf(at, actor)
            const force = new Set(forceFirst ? Object.keys(edit).slice(0, 1) : [])
            const facet = readLinearFacet(bytes)
            expect(facet).toBeDefined()
            expect(asRead(bytes)).toEqual(loaded(bytes))
            const doc = A.load<FacetDoc>(bytes, { actor })
            const next = changeFacetDoc(doc, edit, stamp, force)
            const written = writeLinearEdit(facet!, edit, stamp, actor, force)
            if (next === undefined) {
              expect(written).toBe('unchanged')
              A.free(doc)
              continue
            }
            const expected = A.getLastLocalChange(next)!
            A.free(next)
            // A forced delete of a field that is not there is left to Automerge.
            if (written === undefined) {
              expect(
                Object.entries(edit).some(
                  ([name, value]) => value === null && force.has(name) && !(name in facet!.fields),
                ),
              ).toBe(true)
              return
            }
            expect(written).not.toBe('unchanged')
            expect(Buffer.from(written as Uint8Array)).toEqual(Buffer.from(expected))
            parts.push(written as Uint8Array)
            // The facet as written reads as the new bytes load.
            const after = join(parts)
            const { type, fields, meta, deleted, heads } = facet!
            expect({ type, fields, meta, deleted, heads }).toEqual(loaded(after))
          }
          const bytes = join(parts)
          expect(asRead(bytes)).toEqual(loaded(bytes))
        },
      ),
      { numRuns: 300, ...seed },
    )
  })

  it('leaves concurrent changes, tombstones, merges and list edits to Automerge', () => {
    const created = encodeNewFacet(
      'person',
      { firstName: 'Anna', roles: ['a', 'b'] },
      stampOf(1_000_000),
      'dddddddd',
    )
    const base = A.load<FacetDoc>(created, { actor: 'aaaaaaaa' })
    const concurrentA = changeFacetDoc(base, { firstName: 'Ann' }, stampOf(2_000_000))!
    const other = A.load<FacetDoc>(created, { actor: 'bbbbbbbb' })
    const concurrentB = changeFacetDoc(other, { firstName: 'Annie' }, stampOf(2_000_001))!
    const both = join([
      created,
      A.getLastLocalChange(concurrentA)!,
      A.getLastLocalChange(concurrentB)!,
    ])
    expect(readLinearFacet(both)).toBeUndefined()
    expect(loaded(both).heads).toHaveLength(2)

    const forms = [
      tombstoneFacetDoc(A.clone(concurrentA), stampOf(3_000_000)),
      mergeFacetDoc(
        A.clone(concurrentA),
        { into: '01AAAAAAAAAAAAAAAAAAAAAAAA' },
        stampOf(3_000_000),
      ),
      changeFacetDoc(A.clone(concurrentA), { roles: ['c'] }, stampOf(3_000_000))!,
    ]
    for (const doc of forms) {
      const bytes = join([created, A.getLastLocalChange(concurrentA)!, A.getLastLocalChange(doc)!])
      // Automerge loads each; the linear reader declines each.
      expect(loaded(bytes).heads).toHaveLength(1)
      expect(readLinearFacet(bytes)).toBeUndefined()
    }
    // A list field is read, and a scalar edit beside it stays in the line.
    const line = join([created, A.getLastLocalChange(concurrentA)!])
    expect(asRead(line)).toEqual(loaded(line))
    const facet = readLinearFacet(line)!
    expect(
      writeLinearEdit(facet, { roles: ['x'] }, stampOf(4_000_000), 'cccccccc', new Set()),
    ).toBe(undefined)
  })

  it('declines bytes that are not a whole line', () => {
    const created = encodeNewFacet('person', { firstName: 'Anna' }, stampOf(1_000_000), 'dddddddd')
    const doc = A.load<FacetDoc>(created, { actor: 'aaaaaaaa' })
    const next = changeFacetDoc(doc, { firstName: 'Ann' }, stampOf(2_000_000))!
    const change = A.getLastLocalChange(next)!
    expect(readLinearFacet(join([created, change.subarray(0, change.length - 1)]))).toBeUndefined()
    const flipped = Uint8Array.from(change)
    flipped[flipped.length - 2]! ^= 0x01
    expect(readLinearFacet(join([created, flipped]))).toBeUndefined()
    // The same change twice is not a line (it can't follow itself).
    expect(readLinearFacet(join([created, change, change]))).toBeUndefined()
  })
})
