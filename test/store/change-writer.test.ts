// The change writer against Automerge.encodeChange. A new facet's bytes must be the ones
// encodeNewFacet made before the writer, through encodeChange, byte for byte (a facet's
// hash is its identity on every instance): `throughAutomerge` below is that code as it
// was. And any change the writer takes must be one Automerge writes the same way again.
import * as A from '@automerge/automerge'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { FieldValue, InstanceId, ObjectType } from '../../src/model/index.ts'
import {
  readChangeColumns,
  writeChangeColumns,
  type ColumnOp,
  type ColumnPred,
  type NewChange,
} from '../../src/store/change-reader.ts'
import {
  encodeNewFacet,
  readEncodedFacet,
  readFacetDoc,
  type FacetDoc,
  type WriteStamp,
} from '../../src/store/facet-doc.ts'
import { writeFieldsChange } from '../../src/store/facet-doc/create.ts'
import { GENESIS_ACTOR, genesis } from '../../src/store/facet-doc/layout.ts'

const stamp: WriteStamp = { by: '12D3KooWTestInstance' as InstanceId, at: 1_732_300_000_000 }
const actor = 'abcdef0123456789abcdef0123456789'
const FIELDS = `2@${GENESIS_ACTOR}`
const META = `3@${GENESIS_ACTOR}`

/** The new facet as encodeNewFacet wrote it with Automerge.encodeChange. */
function throughAutomerge(
  type: ObjectType,
  fields: Record<string, FieldValue>,
  at: WriteStamp,
  writer: string,
): Uint8Array {
  const ops: Record<string, unknown>[] = []
  const nextOpId = () => `${4 + ops.length}@${writer}`
  const written = `${at.at} ${at.by}`
  for (const [key, value] of Object.entries(fields)) {
    if (Array.isArray(value)) {
      const list = nextOpId()
      ops.push({ action: 'makeList', obj: FIELDS, key, pred: [] })
      let previous = '_head'
      for (const item of value) {
        const element = nextOpId()
        ops.push({
          action: 'set',
          obj: list,
          elemId: previous,
          insert: true,
          value: item,
          pred: [],
        })
        previous = element
      }
    } else if (typeof value === 'object') {
      const map = nextOpId()
      ops.push({ action: 'makeMap', obj: FIELDS, key, pred: [] })
      for (const [entry, item] of Object.entries(value)) {
        ops.push({ action: 'set', obj: map, key: entry, value: item, pred: [] })
      }
    } else {
      const datatype = typeof value === 'number' ? { datatype: 'int' } : {}
      ops.push({ action: 'set', obj: FIELDS, key, pred: [], value, ...datatype })
    }
    ops.push({ action: 'set', obj: META, key, value: written, pred: [] })
  }
  const { change, hash } = genesis(type)
  const content = A.encodeChange({
    actor: writer,
    seq: 1,
    startOp: 4,
    time: Math.floor(at.at / 1000),
    message: null,
    deps: [hash],
    ops,
  } as unknown as Parameters<typeof A.encodeChange>[0])
  return Uint8Array.from([...change, ...content])
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/** Asserts the fast path writes `fields` exactly as encodeChange did, and both reads. */
function expectAsAutomerge(
  fields: Record<string, FieldValue>,
  type: ObjectType = 'person',
  writer = actor,
  at = stamp,
): Uint8Array {
  expect(writeFieldsChange(fields, at, writer, genesis(type).hash)).toBeDefined()
  const bytes = encodeNewFacet(type, fields, at, writer)
  expect(hex(bytes)).toBe(hex(throughAutomerge(type, fields, at, writer)))
  // -0 is stored as the integer 0: compare as JSON numbers do.
  const expected = JSON.parse(JSON.stringify(fields)) as unknown
  const quick = readEncodedFacet(bytes)
  expect(quick?.type).toBe(type)
  expect(quick?.fields).toEqual(expected)
  for (const name of Object.keys(fields)) expect(quick?.meta[name]).toEqual(at)
  return bytes
}

function expectLoads(bytes: Uint8Array, fields: Record<string, FieldValue>): void {
  const doc = A.load<FacetDoc>(bytes)
  try {
    expect(readFacetDoc(doc).fields).toEqual(JSON.parse(JSON.stringify(fields)))
    expect(A.getHeads(doc)).toEqual(readEncodedFacet(bytes)?.heads)
  } finally {
    A.free(doc)
  }
}

// Small pools make equal neighbours (runs in the columns) as likely as distinct values.
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('', 'a', 'donor', 'member', 'Ærlig Åse 👩‍👩‍👧', 'x'.repeat(130)),
)
const key = text.filter((name) => name !== '__proto__')
const integer = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -0, -1, 63, 64, -64, -65, 2 ** 53 - 1, -(2 ** 53 - 1)),
)
const fieldValue: fc.Arbitrary<FieldValue> = fc.oneof(
  text,
  fc.boolean(),
  integer,
  fc.array(text, { maxLength: 6 }),
  fc.dictionary(key, text, { maxKeys: 4 }),
)
const fieldsArb = fc.dictionary(key, fieldValue, { maxKeys: 12 })
const objectType = fc.constantFrom<ObjectType>('person', 'organization', 'transaction', 'file')
const actorArb = fc
  .uint8Array({ minLength: 1, maxLength: 32 })
  .map((bytes) => Buffer.from(bytes).toString('hex'))
const stampArb = fc.record({
  by: fc.string({ minLength: 1, maxLength: 60 }).map((by) => by as InstanceId),
  at: fc.integer({ min: 0, max: 2 ** 47 }),
})

describe('a new facet written by the change writer', () => {
  it('is byte for byte what Automerge.encodeChange wrote, and reads the same', () => {
    let runs = 0
    fc.assert(
      fc.property(fieldsArb, objectType, actorArb, stampArb, (fields, type, writer, at) => {
        const bytes = expectAsAutomerge(fields, type, writer, at)
        // Loading costs more than the rest together: one run in eight (the bytes are
        // Automerge's own already).
        if (runs++ % 8 === 0) expectLoads(bytes, fields)
      }),
      { numRuns: 2000 },
    )
  })

  it('holds on the edges: sizes, long strings, unicode keys, repeated values', () => {
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`field${i}`, `v${i}`]))
    const cases: Record<string, FieldValue>[] = [
      {},
      { firstName: 'Anna' },
      many,
      { long: 'x'.repeat(128), longer: 'é'.repeat(100), huge: 'abc'.repeat(6000) },
      { 'ключ 🔑': 'значение', 名前: '山田', 'e\u0301': 'combining', '': 'empty key' },
      { list: Array.from({ length: 200 }, (_, i) => `item ${i}`) },
      { same: Array<string>(50).fill('donor'), mixed: ['a', 'a', 'b', 'a', 'b', 'b', 'b', ''] },
      { empty: [], none: {}, blank: '', no: false, yes: true, zero: 0 },
      { max: 2 ** 53 - 1, min: -(2 ** 53 - 1), big: 2 ** 40, small: -(2 ** 31), one: 1 },
      { map: { b: 'x', a: 'x', 2: 'two', 1: 'one', '': '' } },
    ]
    for (const fields of cases) expectLoads(expectAsAutomerge(fields), fields)
    // More than 10,000 ops: Automerge encodes such a change row by row instead.
    const longList = { list: Array.from({ length: 10_001 }, (_, i) => `${i % 7}`) }
    expectLoads(expectAsAutomerge(longList), longList)
  })

  it('by the genesis actor itself, lists no other actor', () => {
    // (A facet the reader then refuses: the genesis actor writes only the genesis.)
    const fields = { a: 'x', list: ['p'] }
    const bytes = encodeNewFacet('person', fields, stamp, GENESIS_ACTOR)
    expect(writeFieldsChange(fields, stamp, GENESIS_ACTOR, genesis('person').hash)).toBeDefined()
    expect(hex(bytes)).toBe(hex(throughAutomerge('person', fields, stamp, GENESIS_ACTOR)))
  })

  it('leaves to Automerge.encodeChange what the writer does not take', () => {
    const hash = genesis('person').hash
    // A lone surrogate: encodeChange refuses it, and still does.
    for (const fields of [{ a: '\ud800' }, { '\udc00x': 'a' }, { a: ['\ud83d'] }]) {
      expect(writeFieldsChange(fields, stamp, actor, hash)).toBeUndefined()
      expect(() => encodeNewFacet('person', fields, stamp, actor)).toThrow(RangeError)
      expect(() => throughAutomerge('person', fields, stamp, actor)).toThrow(RangeError)
    }
    // Values outside the types (from untyped callers) and an upper-case actor.
    const untyped = [
      { list: [1, 'a'] as unknown as string[] },
      { map: { k: true } as unknown as Record<string, string> },
    ]
    for (const fields of untyped) {
      expect(writeFieldsChange(fields, stamp, actor, hash)).toBeUndefined()
      const bytes = encodeNewFacet('person', fields, stamp, actor)
      expect(hex(bytes)).toBe(hex(throughAutomerge('person', fields, stamp, actor)))
    }
    expect(writeFieldsChange({ a: 'x' }, stamp, 'ABCD', hash)).toBeUndefined()
    expect(hex(encodeNewFacet('person', { a: 'x' }, stamp, 'ABCD'))).toBe(
      hex(throughAutomerge('person', { a: 'x' }, stamp, 'ABCD')),
    )
  })
})

// Changes beyond a facet's: root ops, unsigned integers, several other actors, deps.
const opArb = (actors: number) => {
  const id = fc.record({ actor: fc.nat(actors - 1), counter: fc.integer({ min: 1, max: 300 }) })
  return fc.record({
    action: fc.constantFrom('set', 'set', 'makeMap', 'makeList'),
    obj: fc.option(id, { nil: undefined }),
    target: fc.oneof(fc.constantFrom('a', 'b', ''), text, fc.constant(null), id),
    value: fc.oneof(
      fc.constantFrom('v', 'w'),
      text,
      fc.boolean(),
      integer.map((value) => ({ value: value + 0, datatype: 'int' as const })), // no -0
      fc.nat({ max: 2 ** 40 }).map((value) => ({ value, datatype: 'uint' as const })),
    ),
  })
}
const changeArb = fc.uniqueArray(actorArb, { minLength: 1, maxLength: 4 }).chain((pool) =>
  fc.record({
    pool: fc.constant(pool),
    ops: fc.array(opArb(pool.length), { maxLength: 30 }),
    deps: fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex), {
      maxLength: 3,
    }),
    seq: fc.integer({ min: 1, max: 2 ** 40 }),
    startOp: fc.integer({ min: 1, max: 2 ** 20 }),
    time: fc.oneof(fc.integer(), fc.maxSafeInteger()),
  }),
)

type GeneratedChange = typeof changeArb extends fc.Arbitrary<infer T> ? T : never

/** The generated change as the writer takes it: the ops' actors as Automerge lists them. */
function newChange(generated: GeneratedChange): NewChange {
  const author = generated.pool[0]!
  const referred = new Set<string>()
  const refer = (index: number) => {
    if (generated.pool[index] !== author) referred.add(generated.pool[index]!)
  }
  for (const op of generated.ops) {
    if (op.obj !== undefined) refer(op.obj.actor)
    if (op.target !== null && typeof op.target === 'object') refer(op.target.actor)
  }
  const actors = [author, ...[...referred].sort()]
  const index = (poolIndex: number) => actors.indexOf(generated.pool[poolIndex]!)
  const ops = generated.ops.map((op): ColumnOp => {
    const column: ColumnOp = {
      action: op.action,
      objActor: op.obj === undefined ? -1 : index(op.obj.actor),
      objCtr: op.obj?.counter ?? 0,
      elemActor: -1,
      elemCtr: 0,
      insert: typeof op.target !== 'string',
    }
    if (typeof op.target === 'string') column.key = op.target
    else if (op.target !== null) {
      column.elemActor = index(op.target.actor)
      column.elemCtr = op.target.counter
    }
    if (op.action !== 'set') return column
    if (typeof op.value === 'object') return { ...column, ...op.value }
    return { ...column, value: op.value }
  })
  const { seq, startOp, time } = generated
  return { actors, seq, startOp, time, deps: [...generated.deps].sort(), ops }
}

describe('the change writer', () => {
  it('writes changes as Automerge writes them again, and as the reader reads them', () => {
    fc.assert(
      fc.property(changeArb, (generated) => {
        const change = newChange(generated)
        const bytes = writeChangeColumns(change)
        expect(bytes).toBeDefined()
        const decoded = A.decodeChange(bytes!)
        expect(hex(A.encodeChange(decoded))).toBe(hex(bytes!))
        expect(readChangeColumns(bytes!)).toEqual({ ...change, hash: decoded.hash })
      }),
      { numRuns: 1000 },
    )
  })

  it('refuses what it does not write exactly', () => {
    const base: NewChange = {
      actors: ['aa'],
      seq: 1,
      startOp: 1,
      time: 0,
      deps: [],
      ops: [
        {
          action: 'set',
          objActor: -1,
          objCtr: 0,
          key: 'k',
          elemActor: -1,
          elemCtr: 0,
          insert: false,
          value: 'v',
        },
      ],
    }
    expect(writeChangeColumns(base)).toBeDefined()
    const refused: NewChange[] = [
      { ...base, actors: ['aa', 'bb'] }, // an actor no op refers to
      { ...base, actors: ['AA'] },
      { ...base, deps: ['b'.repeat(64), 'a'.repeat(64)] },
      { ...base, ops: [{ ...base.ops[0]!, value: 1.5, datatype: 'float64' }] },
      { ...base, ops: [{ ...base.ops[0]!, value: 1 }] },
      { ...base, ops: [{ ...base.ops[0]!, value: 'a\udc00' }] },
      { ...base, ops: [{ ...base.ops[0]!, insert: true }] },
    ]
    for (const change of refused) expect(writeChangeColumns(change)).toBeUndefined()
  })

  it('takes predecessors only in Automerge’s order, and deletes only of a map key', () => {
    type Override = { [K in keyof ColumnOp]?: ColumnOp[K] | undefined }
    /** A set of root key 'k' with `pred`, changed by `more` (undefined: left out). */
    const op = (pred: ColumnPred[], more: Override = {}): ColumnOp => {
      const column: Override = {
        action: 'set',
        objActor: -1,
        objCtr: 0,
        key: 'k',
        elemActor: -1,
        elemCtr: 0,
        insert: false,
        value: 'v',
        pred: pred.length > 0 ? pred : undefined, // as the reader gives it
        ...more,
      }
      for (const name of Object.keys(column) as (keyof ColumnOp)[]) {
        if (column[name] === undefined) delete column[name]
      }
      return column as ColumnOp
    }
    const p = (actor: number, counter: number): ColumnPred => ({ actor, counter })
    // The author 'cc' sorts after 'aa' and 'bb': Automerge orders by actor id, not index.
    const change = (...ops: ColumnOp[]): NewChange => ({
      actors: ['cc', 'aa', 'bb'],
      seq: 1,
      startOp: 10,
      time: 0,
      deps: [],
      ops,
    })
    const del: Override = { action: 'del', value: undefined }
    const written = [
      change(op([p(1, 3)]), op([p(2, 3)])),
      change(op([p(2, 3), p(1, 5)])),
      change(op([p(1, 3), p(2, 3), p(0, 3)])),
      change(op([p(1, 3), p(0, 9)]), op([p(2, 3)])),
      // The author's own op of this change, before the one that overwrites it.
      change(op([]), op([p(1, 10), p(2, 10), p(0, 10)])),
      change(op([p(2, 7)], del), op([p(1, 7)])),
      // 'aa' and 'bb' referred to by predecessors only; a map made over an old value.
      change(op([p(1, 1)], { action: 'makeMap', value: undefined }), op([p(2, 2)])),
    ]
    for (const edit of written) {
      const bytes = writeChangeColumns(edit)
      expect(bytes).toBeDefined()
      const decoded = A.decodeChange(bytes!)
      expect(hex(A.encodeChange(decoded))).toBe(hex(bytes!))
      expect(readChangeColumns(bytes!)).toEqual({ ...edit, hash: decoded.hash })
    }
    const other = op([p(1, 1), p(2, 1)])
    const refused = [
      change(op([p(2, 3), p(1, 3)])), // 'bb' before 'aa'
      change(op([p(1, 5), p(2, 3)])), // 5 before 3
      change(op([p(1, 3), p(1, 3)]), other), // twice
      change(op([p(1, 0)]), other),
      change(op([p(1, 2 ** 32)]), other),
      change(op([p(3, 1)]), other),
      change(op([p(-1, 1)]), other),
      change(op([p(1.5, 1)]), other),
      // The author's op at or after the one overwriting it.
      change(op([p(1, 10), p(2, 10), p(0, 10)])),
      change(op([]), op([p(1, 11), p(2, 11), p(0, 11)])),
      // An insert overwrites nothing; a delete deletes something, and has no value.
      change(op([p(1, 3), p(2, 3)], { key: undefined, insert: true })),
      change(op([], del), other),
      change(op([p(1, 3), p(2, 3)], { action: 'del' })),
      change(op([p(1, 3), p(2, 3)], { ...del, datatype: 'int' })),
      // An actor no op refers to (the predecessors refer to 'aa' only).
      change(op([p(1, 3)])),
    ]
    for (const edit of refused) expect(writeChangeColumns(edit)).toBeUndefined()
  })
})
