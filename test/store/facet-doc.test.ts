import { createHash } from 'node:crypto'
import * as A from '@automerge/automerge'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { FieldValue, InstanceId } from '../../src/model/index.ts'
import {
  changeFacetDoc,
  createFacetDoc,
  encodeNewFacet,
  hasGenesisOf,
  readEncodedFacet,
  readFacetDoc,
  type FacetDoc,
} from '../../src/store/facet-doc.ts'
import { writeChangeColumns, type ColumnOp, type NewChange } from '../../src/store/change-reader.ts'
import { GENESIS_ACTOR, genesis } from '../../src/store/facet-doc/layout.ts'

const stamp = { by: 'instance-a' as InstanceId, at: 1_700_000_000_123 }
const actor = 'abcdef0123456789abcdef0123456789'

const fieldValue: fc.Arbitrary<FieldValue> = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, noNaN: true }),
  fc.array(fc.string(), { maxLength: 4 }),
  // __proto__ is refused by validation before anything reaches a document.
  fc.dictionary(
    fc.string({ minLength: 1 }).filter((key) => key !== '__proto__'),
    fc.string(),
    { maxKeys: 3 },
  ),
)
const fieldsArb = fc.dictionary(
  fc.string({ minLength: 1 }).filter((name) => name !== '__proto__'),
  fieldValue,
  { maxKeys: 8 },
)

describe('facet documents', () => {
  it('a directly encoded new facet reads back exactly the fields it was given', () => {
    fc.assert(
      fc.property(fieldsArb, (fields) => {
        const doc = createFacetDoc('person', fields, stamp, actor)
        const content = readFacetDoc(doc)
        expect(content.type).toBe('person')
        // -0 is stored as an integer 0 by Automerge; compare as JSON numbers do.
        expect(JSON.parse(JSON.stringify(content.fields))).toEqual(
          JSON.parse(JSON.stringify(fields)),
        )
        for (const name of Object.keys(fields)) expect(content.meta[name]).toEqual(stamp)
        expect(hasGenesisOf(doc, 'person')).toBe(true)
        expect(hasGenesisOf(doc, 'organization')).toBe(false)
        A.free(doc)
      }),
    )
  })

  it('facets of one type share the genesis, so concurrent creations merge field by field', () => {
    const a = createFacetDoc('person', { one: 'a' }, stamp, 'aa')
    const b = createFacetDoc('person', { two: 'b' }, stamp, 'bb')
    const merged = A.merge(A.clone(a), b)
    expect(readFacetDoc(merged).fields).toEqual({ one: 'a', two: 'b' })
    expect(hasGenesisOf(merged, 'person')).toBe(true)
  })

  it('changes only what differs and stamps only those fields', () => {
    const doc = createFacetDoc('person', { a: 'x', b: ['1'], m: { k: 'v' } }, stamp, actor)
    expect(changeFacetDoc(doc, { a: 'x', b: ['1'], m: { k: 'v' } }, stamp)).toBeUndefined()
    const later = { ...stamp, at: stamp.at + 5 }
    const next = changeFacetDoc(doc, { a: 'y', m: { k: 'v', j: 'w' }, gone: null }, later)!
    const content = readFacetDoc(next)
    expect(content.fields).toEqual({ a: 'y', b: ['1'], m: { k: 'v', j: 'w' } })
    expect(content.meta.a).toEqual(later)
    expect(content.meta.b).toEqual(stamp)
  })
})

describe('reading an encoded facet without loading it', () => {
  it('reads exactly what loading the document reads, with the same heads', () => {
    fc.assert(
      fc.property(fieldsArb, (fields) => {
        const bytes = encodeNewFacet('organization', fields, stamp, actor)
        const quick = readEncodedFacet(bytes)
        const doc = A.load<FacetDoc>(bytes)
        const loaded = readFacetDoc(doc)
        if (Object.values(fields).some((v) => typeof v === 'number' && !Number.isSafeInteger(v))) {
          // Floats are written through a document and so are not in the encoded form.
          expect(quick).toBeUndefined()
        } else {
          expect(quick).toEqual({ ...loaded, type: 'organization', heads: A.getHeads(doc) })
        }
        A.free(doc)
      }),
    )
  })

  it('on mutated changes (checksum fixed up), reads what loading reads or declines', () => {
    const bytes = encodeNewFacet(
      'person',
      { name: 'Ann', roles: ['donor', 'volunteer'], links: { web: 'x' }, age: 40, ok: true },
      stamp,
      actor,
    )
    const start = contentChangeStart(bytes)
    fc.assert(
      fc.property(
        fc.integer({ min: start + 9, max: bytes.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (at, value) => {
          const mutated = bytes.slice()
          mutated[at] = value
          fixChecksum(mutated, start)
          let quick: ReturnType<typeof readEncodedFacet>
          try {
            quick = readEncodedFacet(mutated)
          } catch {
            return // refused: the caller reports it
          }
          if (quick === undefined) return
          const doc = A.load<FacetDoc>(mutated)
          expect(quick).toEqual({ ...readFacetDoc(doc), type: 'person', heads: A.getHeads(doc) })
          A.free(doc)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('declines other forms: a saved document, an edited one, a bare change', () => {
    const bytes = encodeNewFacet('person', { a: 'x' }, stamp, actor)
    const doc = A.load<FacetDoc>(bytes)
    expect(readEncodedFacet(A.save(doc))).toBeUndefined()
    const edited = changeFacetDoc(doc, { a: 'y' }, stamp)!
    expect(readEncodedFacet(A.save(edited))).toBeUndefined()
    expect(readEncodedFacet(bytes.subarray(73))).toBeUndefined()
    expect(readEncodedFacet(new Uint8Array(0))).toBeUndefined()
  })

  it('declines a change after the genesis whose ops overwrite or delete', () => {
    // The narrow reader reads predecessors and deletes (an edit's ops); a created facet
    // has neither, so such a change takes the document path even right after the genesis.
    const { change: genesisChange, hash } = genesis('person')
    const set = (objCtr: number, key: string, value: string): ColumnOp => ({
      action: 'set',
      objActor: 1,
      objCtr,
      key,
      elemActor: -1,
      elemCtr: 0,
      insert: false,
      value,
    })
    const facet = (ops: ColumnOp[]) => {
      const change: NewChange = {
        actors: [actor, GENESIS_ACTOR],
        seq: 1,
        startOp: 4,
        time: 0,
        deps: [hash],
        ops,
      }
      return writeChangeColumns(change, genesisChange)!
    }
    const stampOp = set(3, 'a', `${stamp.at} ${stamp.by}`)
    // The same change without predecessors is of the created form.
    expect(readEncodedFacet(facet([set(2, 'a', 'x'), stampOp]))?.fields).toEqual({ a: 'x' })
    const overwrite = { ...set(2, 'a', 'x'), pred: [{ actor: 1, counter: 1 }] }
    expect(readEncodedFacet(facet([overwrite, stampOp]))).toBeUndefined()
    const stampOverwrite = { ...stampOp, pred: [{ actor: 1, counter: 1 }] }
    expect(readEncodedFacet(facet([set(2, 'a', 'x'), stampOverwrite]))).toBeUndefined()
    const del: ColumnOp = {
      action: 'del',
      objActor: 1,
      objCtr: 2,
      key: 'a',
      elemActor: -1,
      elemCtr: 0,
      insert: false,
      pred: [{ actor: 1, counter: 1 }],
    }
    expect(readEncodedFacet(facet([del, stampOp]))).toBeUndefined()
  })

  it('throws on damaged bytes of the encoded form, so they are refused', () => {
    const bytes = encodeNewFacet('person', { a: 'x' }, stamp, actor)
    const damaged = bytes.slice()
    damaged[damaged.length - 3]! ^= 0xff
    expect(() => readEncodedFacet(damaged)).toThrow()
  })
})

/** Where the second chunk (the content change) of a new facet's bytes starts. */
function contentChangeStart(bytes: Uint8Array): number {
  let offset = 9
  let length = 0
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[offset++]!
    length += (byte & 0x7f) * 2 ** shift
    if ((byte & 0x80) === 0) break
  }
  return offset + length
}

/** Rewrites the checksum of the change chunk at `start`, so a mutation reaches the reader. */
function fixChecksum(bytes: Uint8Array, start: number): void {
  const hashed = bytes.subarray(start + 8)
  bytes.set(createHash('sha256').update(hashed).digest().subarray(0, 4), start + 4)
}
