// The narrow change reader against Automerge's own decoder: where it gives an answer,
// that answer is Automerge's, on valid changes and on changes mutated behind a fixed-up
// checksum (so that the mutation reaches the column parser instead of failing the check).
import * as A from '@automerge/automerge'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { FieldValue, InstanceId } from '../../src/model/index.ts'
import { readSimpleChange } from '../../src/store/change-reader.ts'
import { changeFacetDoc, encodeNewFacet, type FacetDoc } from '../../src/store/facet-doc.ts'
import { ACTION } from '../../src/store/change-reader/change-format.ts'
import { bodyOf, chunk, withColumn } from '../helpers/change-bytes.ts'

const stamp = { by: '12D3KooWTestInstance' as InstanceId, at: 1_732_300_000_000 }

/** The second chunk of a new facet's bytes: its content change. */
function contentChange(bytes: Uint8Array): Uint8Array {
  let offset = 9
  let length = 0
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[offset++]!
    length += (byte & 0x7f) * 2 ** shift
    if ((byte & 0x80) === 0) break
  }
  return bytes.subarray(offset + length)
}

function automerge(change: Uint8Array): unknown {
  try {
    return A.decodeChange(change)
  } catch {
    return 'refused'
  }
}

/**
 * Changes made of `bases` (change bodies) with a few bytes changed and the length moved:
 * where the reader answers, it answers as Automerge does; it must answer often enough to
 * show the mutations reach the parser, not only its refusals.
 */
function expectMutationsAnsweredAsAutomerge(bases: readonly Uint8Array[]): void {
  let answered = 0
  fc.assert(
    fc.property(
      fc.nat(bases.length - 1),
      fc.array(fc.tuple(fc.nat(1000), fc.nat(255)), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: -8, max: 8 }),
      (which, flips, resize) => {
        const body = Uint8Array.from(bases[which]!)
        for (const [at, value] of flips) body[at % body.length] = value
        const sized =
          resize >= 0
            ? Uint8Array.from([...body, ...new Array<number>(resize).fill(0)])
            : body.subarray(0, body.length + resize)
        const change = chunk(sized)
        const read = readSimpleChange(change)
        if (read === undefined) return
        answered++
        expect(read).toEqual(automerge(change))
      },
    ),
    { numRuns: Number(process.env.FUZZ_CHANGES ?? 20_000) },
  )
  expect(answered).toBeGreaterThan(100)
}

const scalar = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.boolean(),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.constantFrom(0, -1, 63, 64, -64, -65, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
)
const fieldValue: fc.Arbitrary<FieldValue> = fc.oneof(
  scalar,
  fc.array(fc.string({ maxLength: 6 }), { maxLength: 5 }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), {
    maxKeys: 4,
  }),
)
const fields = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 10 }).filter((key) => key !== '__proto__'),
  fieldValue,
  { maxKeys: 12 },
)
const actor = fc
  .uint8Array({ minLength: 1, maxLength: 32 })
  .map((bytes) => Buffer.from(bytes).toString('hex'))

describe('the narrow change reader', () => {
  it('reads every new-facet change exactly as Automerge.decodeChange does', () => {
    fc.assert(
      fc.property(fields, actor, (content, writer) => {
        const change = contentChange(encodeNewFacet('person', content, stamp, writer))
        const read = readSimpleChange(change)
        expect(read).toBeDefined()
        expect(read).toEqual(A.decodeChange(change))
      }),
      { numRuns: 500 },
    )
  })

  it(
    'on mutated changes, answers as Automerge does or not at all',
    () => {
      const bases = [
        { firstName: 'Anna', roles: ['a', 'b'], address: { city: 'X' }, n: -70, ok: true },
        { firstName: 'Ærlig Åse', lastName: 'Ødegård', big: 2 ** 40, no: false },
        { firstName: 'P', lastName: 'Q', email: 'p.q@example.org', roles: ['donor'] },
      ].map((fields) =>
        bodyOf(contentChange(encodeNewFacet('person', fields, stamp, 'abcdef0123456789'))),
      )
      expectMutationsAnsweredAsAutomerge(bases)
    },
    60_000 + Number(process.env.FUZZ_CHANGES ?? 0) / 10,
  )

  it(
    'on mutated edit changes (predecessors, deletes), answers as Automerge does or not at all',
    () => {
      // Edits of a real facet: overwrites and deletes of fields, a list made anew, a map
      // key deleted, and an overwrite of a conflict (two predecessors).
      let doc = A.load<FacetDoc>(
        encodeNewFacet('person', { a: 'x', b: 'y', l: ['p'], m: { k: 'v', j: 'w' } }, stamp, 'ab'),
        { actor: 'cd' },
      )
      const bases: Uint8Array[] = []
      const edit = (patch: Parameters<typeof changeFacetDoc>[1]) => {
        doc = changeFacetDoc(doc, patch, stamp)!
        bases.push(bodyOf(A.getLastLocalChange(doc)!))
      }
      edit({ a: 'z', b: null })
      edit({ l: ['q', 'r'], m: { k: 'v2' }, n: 7 })
      const theirs = changeFacetDoc(A.clone(doc, { actor: 'ef' }), { a: 'theirs' }, stamp)!
      edit({ a: 'ours' })
      doc = A.merge(doc, theirs)
      edit({ a: 'settled', b: 'back' })
      for (const body of bases) expect(readSimpleChange(chunk(body))).toBeDefined()
      expectMutationsAnsweredAsAutomerge(bases)
    },
    60_000 + Number(process.env.FUZZ_CHANGES ?? 0) / 10,
  )

  it('refuses predecessors and deletes Automerge decodes but would not make so', () => {
    const encode = (actor: string, ...ops: Record<string, unknown>[]) =>
      A.encodeChange({
        actor,
        seq: 1,
        startOp: 10,
        time: 0,
        message: null,
        deps: [],
        ops,
      } as unknown as Parameters<typeof A.encodeChange>[0])
    const set = (pred: string[], more: Record<string, unknown> = {}) => ({
      action: 'set',
      obj: '_root',
      key: 'k',
      value: 'x',
      pred,
      ...more,
    })
    // Read: predecessors sorted by counter, then by actor id (the author 'cc' last).
    const sorted = encode('cc', set(['3@bb', '3@cc', '5@aa']))
    expect(readSimpleChange(sorted)).toEqual(A.decodeChange(sorted))
    expect(A.decodeChange(sorted).ops[0]!.pred).toEqual(['3@bb', '3@cc', '5@aa'])
    // The same predecessors stored out of order: decodeChange sorts them, and re-encodes
    // other bytes (another hash); the reader refuses. Actors aa 1, bb 2; columns: the
    // actors 2, 0, 1 (a literal of 3) and the counters 3, 3, 5 (deltas 3, 0, 2), made
    // 5@aa, 3@bb, 3@cc: the actors 1, 2, 0 and the counters 5, 3, 3 (deltas 5, -2, 0).
    const body = Buffer.from(bodyOf(sorted)).toString('hex')
    expect(body).toContain('7d0200017d030002')
    const unsorted = chunk(Buffer.from(body.replace('7d0200017d030002', '7d0102007d057e00'), 'hex'))
    expect(A.decodeChange(unsorted).ops[0]!.pred).toEqual(['3@bb', '3@cc', '5@aa'])
    expect(Buffer.from(A.encodeChange(A.decodeChange(unsorted)))).not.toEqual(Buffer.from(unsorted))
    expect(readSimpleChange(unsorted)).toBeUndefined()
    // encodeChange writes these, decodeChange reads them, the reader does not.
    const refused = [
      encode('cc', set(['3@bb', '3@bb'])), // one predecessor twice
      encode('cc', set(['0@bb'])), // counter 0
      encode('cc', set(['4294967295@bb'])), // past the counters taken
      encode('cc', set(['10@cc'])), // the author's op itself
      encode('cc', set([]), set(['12@cc'])), // the author's op after this one
      encode('cc', { action: 'del', obj: '_root', key: 'k', pred: [] }), // a delete of nothing
      encode('cc', set(['3@bb'], { obj: '1@bb', key: undefined, elemId: '_head', insert: true })),
    ]
    for (const change of refused) {
      expect(A.decodeChange(change).ops.length).toBeGreaterThan(0)
      expect(readSimpleChange(change)).toBeUndefined()
    }
    // And a delete as Automerge writes it: action 3, value metadata 0, no value.
    const del = encode('cc', { action: 'del', obj: '_root', key: 'k', pred: ['3@bb'] })
    expect(readSimpleChange(del)).toEqual(A.decodeChange(del))
    expect(Buffer.from(bodyOf(del)).toString('hex')).toContain('7f037f00') // action, meta
  })

  it('leaves other changes to Automerge: deletes, edits, text, counters, messages', () => {
    let doc = A.from<Record<string, unknown>>({ a: 'x', list: ['p', 'q'] }, { actor: 'aa' })
    doc = A.change(doc, { message: 'hello' }, (draft) => {
      draft.b = 1
    })
    doc = A.change(doc, (draft) => {
      delete draft.a
      draft.counter = new A.Counter(3)
      draft.text = 'some text'
      draft.when = new Date(0)
      ;(draft.list as string[]).splice(0, 1)
    })
    const changes = A.getAllChanges(doc)
    expect(changes.length).toBe(3)
    for (const change of changes) {
      const read = readSimpleChange(change)
      if (read !== undefined) expect(read).toEqual(A.decodeChange(change))
    }
    // A message (an authorship proof) is read; the second edit's counter, text, timestamp
    // and list element delete are outside the narrow form.
    expect(readSimpleChange(changes[1]!)).toEqual(A.decodeChange(changes[1]!))
    expect(readSimpleChange(changes[1]!)!.message).toBe('hello')
    expect(readSimpleChange(changes[2]!)).toBeUndefined()
  })

  it('leaves a message longer than a proof (1 KiB) to Automerge', () => {
    const doc = A.change(
      A.from({ a: 1 }, { actor: 'aa' }),
      { message: 'é'.repeat(513) },
      (draft) => {
        draft.a = 2
      },
    )
    const short = A.change(
      A.from({ a: 1 }, { actor: 'aa' }),
      { message: 'é'.repeat(512) },
      (draft) => {
        draft.a = 2
      },
    )
    expect(readSimpleChange(A.getLastLocalChange(doc)!)).toBeUndefined()
    expect(readSimpleChange(A.getLastLocalChange(short)!)?.message).toBe('é'.repeat(512))
  })

  it('keeps a leading byte-order mark, as Automerge does', () => {
    const change = contentChange(
      encodeNewFacet('person', { '\uFEFFroles': '\uFEFFcustomer' }, stamp, 'ab'),
    )
    const read = readSimpleChange(change)
    expect(read).toEqual(A.decodeChange(change))
    expect(read!.ops[0]!.value).toBe('\uFEFFcustomer')
  })

  it('refuses runs written in a form Automerge would not load back (a repetition of one)', () => {
    // The predecessor-count column of a two-op change, as "1 × 0, 1 × 0" instead of "2 × 0".
    const change = contentChange(encodeNewFacet('person', { a: 'x' }, stamp, 'ab'))
    const body = bodyOf(change)
    const at = body.lastIndexOf(2) // the count 2 of the final run (pred: 2 × 0)
    expect(body[at + 1]).toBe(0)
    expect(at).toBe(body.length - 2)
    const columnsEnd = body.length - 2
    // Rewrite the run as two runs of one, and the pred column's length from 2 to 4.
    const specAt = body.lastIndexOf(0x70, columnsEnd)
    const rebuilt = Uint8Array.from([...body.subarray(0, columnsEnd), 1, 0, 1, 0])
    rebuilt[specAt + 1] = 4
    // Automerge's decoder takes it (so the refusal is about the form, not the bytes)…
    expect(A.decodeChange(chunk(rebuilt)).ops).toHaveLength(2)
    expect(readSimpleChange(chunk(rebuilt))).toBeUndefined()
  })

  it('refuses, before reading a column, a change whose action column names too many ops', () => {
    const change = contentChange(encodeNewFacet('person', { a: 'x' }, stamp, 'ab'))
    expect(readSimpleChange(change)).toBeDefined()
    // The action column as one run of 2^30 ops: five bytes that name a billion rows in
    // every column. Reading them (as this reader did) took gigabytes; now it refuses.
    const billion = withColumn(change, ACTION, [0x80, 0x80, 0x80, 0x80, 0x04, 1])
    expect(readSimpleChange(billion)).toBeUndefined()
    // The most it reads: a run of 2^16 passes the count and fails on the other columns.
    const most = withColumn(change, ACTION, [0x80, 0x80, 0x04, 1])
    expect(readSimpleChange(most)).toBeUndefined()
  })

  it('refuses a wrong checksum, a truncated chunk and trailing bytes', () => {
    const change = contentChange(encodeNewFacet('person', { firstName: 'A' }, stamp, 'ab'))
    expect(readSimpleChange(change)).toBeDefined()
    const badChecksum = Uint8Array.from(change)
    badChecksum[4]! ^= 1
    expect(readSimpleChange(badChecksum)).toBeUndefined()
    expect(readSimpleChange(change.subarray(0, change.length - 1))).toBeUndefined()
    expect(readSimpleChange(Uint8Array.from([...change, 0]))).toBeUndefined()
  })
})
