// The change writer and the narrow reader on edit changes: ops on map keys with
// predecessors (the ops they overwrite or delete) and deletes of map keys, held to
// Automerge.encodeChange and Automerge.decodeChange on generated changes and on a real
// facet document's edits.
import * as A from '@automerge/automerge'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { FieldValue, InstanceId } from '../../src/model/index.ts'
import {
  readChangeColumns,
  readSimpleChange,
  writeChangeColumns,
  type ColumnOp,
  type NewChange,
} from '../../src/store/change-reader.ts'
import {
  changeFacetDoc,
  encodeNewFacet,
  type Doc,
  type FacetDoc,
  type WriteStamp,
} from '../../src/store/facet-doc.ts'
import { GENESIS_ACTOR } from '../../src/store/facet-doc/layout.ts'

const stamp: WriteStamp = { by: '12D3KooWTestInstance' as InstanceId, at: 1_732_300_000_000 }
const actor = 'abcdef0123456789abcdef0123456789'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

// As in change-writer.test.ts: small pools make equal neighbours (runs) likely.
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
const actorArb = fc
  .uint8Array({ minLength: 1, maxLength: 32 })
  .map((bytes) => Buffer.from(bytes).toString('hex'))

// Edit changes: ops on map keys with predecessors (on other actors, the genesis actor
// among them, and on the author's earlier ops) and deletes of map keys, beside inserts.
// fast-check prints the seed of a failing run; FC_SEED=<seed> reruns it.
const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }

const editOpArb = (actors: number) => {
  const id = fc.record({ actor: fc.nat(actors - 1), counter: fc.integer({ min: 1, max: 300 }) })
  const value = fc.oneof(
    fc.constantFrom('v', 'w'),
    text,
    fc.boolean(),
    integer.map((value) => ({ value: value + 0, datatype: 'int' as const })), // no -0
    fc.nat({ max: 2 ** 40 }).map((value) => ({ value, datatype: 'uint' as const })),
  )
  return fc.oneof(
    // An op on a map key: overwrites what its predecessors name (or nothing).
    fc.record({
      action: fc.constantFrom('set', 'set', 'set', 'del', 'makeMap', 'makeList'),
      obj: fc.option(id, { nil: undefined }),
      key: fc.oneof(fc.constantFrom('a', 'b', 'firstName', ''), key),
      pred: fc.array(id, { maxLength: 3 }),
      value,
    }),
    // An insert into a list (no predecessors).
    fc.record({
      action: fc.constantFrom('set', 'makeMap', 'makeList'),
      obj: id.map((obj) => obj as typeof obj | undefined),
      key: fc.option(id, { nil: undefined }),
      pred: fc.constant([]),
      value,
    }),
  )
}
const editChangeArb = fc
  .uniqueArray(fc.oneof(actorArb, fc.constant(GENESIS_ACTOR)), { minLength: 1, maxLength: 4 })
  .chain((pool) =>
    fc.record({
      pool: fc.constant(pool),
      ops: fc.array(editOpArb(pool.length), { maxLength: 20 }),
      deps: fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex), {
        maxLength: 3,
      }),
      seq: fc.integer({ min: 1, max: 2 ** 40 }),
      startOp: fc.oneof(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 2 ** 20 })),
      time: fc.oneof(fc.integer(), fc.maxSafeInteger()),
      shuffle: fc.nat(),
    }),
  )

type GeneratedEdit = typeof editChangeArb extends fc.Arbitrary<infer T> ? T : never

/** Automerge's order of an op's predecessors: by counter, then by actor id. */
function byOpId(a: { counter: number; id: string }, b: { counter: number; id: string }): number {
  return a.counter - b.counter || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/**
 * The generated edit as the writer takes it (actors as Automerge lists them, each op's
 * predecessors in Automerge's order, none twice, the author's only before the op; a
 * delete with none becomes a set), and as Automerge.encodeChange takes it (the
 * predecessors rotated out of order: encodeChange sorts them).
 */
function newEdit(generated: GeneratedEdit): { change: NewChange; json: unknown } {
  const { pool, startOp } = generated
  const author = pool[0]!
  const ops = generated.ops.map((op, i) => {
    const seen = new Set<string>()
    const pred = op.pred
      .map(({ actor, counter }) => {
        const id = pool[actor]!
        // The author's own predecessors: ops before this one.
        const before = startOp + i - 1
        return { id, counter: id === author ? (before > 0 ? 1 + (counter % before) : 0) : counter }
      })
      .filter(
        ({ id, counter }) =>
          counter > 0 && !seen.has(`${counter}@${id}`) && seen.add(`${counter}@${id}`),
      )
      .sort(byOpId)
    const action = op.action === 'del' && pred.length === 0 ? 'set' : op.action
    return { ...op, action, pred }
  })
  const referred = new Set<string>()
  const refer = (id: string) => {
    if (id !== author) referred.add(id)
  }
  for (const op of ops) {
    if (op.obj !== undefined) refer(pool[op.obj.actor]!)
    if (typeof op.key === 'object') refer(pool[op.key.actor]!)
    for (const { id } of op.pred) refer(id)
  }
  const actors = [author, ...[...referred].sort()]
  const index = (id: string) => actors.indexOf(id)
  const opId = (actor: number, counter: number) => `${counter}@${pool[actor]!}`
  const columnOps: ColumnOp[] = []
  const jsonOps: Record<string, unknown>[] = []
  for (const op of ops) {
    const column: ColumnOp = {
      action: op.action,
      objActor: op.obj === undefined ? -1 : index(pool[op.obj.actor]!),
      objCtr: op.obj?.counter ?? 0,
      elemActor: -1,
      elemCtr: 0,
      insert: typeof op.key !== 'string',
    }
    const json: Record<string, unknown> = {
      action: op.action,
      obj: op.obj === undefined ? '_root' : opId(op.obj.actor, op.obj.counter),
    }
    if (typeof op.key === 'string') {
      column.key = json.key = op.key
    } else {
      json.insert = true
      json.elemId = op.key === undefined ? '_head' : opId(op.key.actor, op.key.counter)
      if (op.key !== undefined) {
        column.elemActor = index(pool[op.key.actor]!)
        column.elemCtr = op.key.counter
      }
    }
    if (op.pred.length > 0) {
      column.pred = op.pred.map(({ id, counter }) => ({ actor: index(id), counter }))
    }
    const preds = op.pred.map(({ id, counter }) => `${counter}@${id}`)
    const turn = preds.length === 0 ? 0 : generated.shuffle % preds.length
    json.pred = [...preds.slice(turn), ...preds.slice(0, turn)]
    if (op.action === 'set') {
      const value = typeof op.value === 'object' ? op.value : { value: op.value }
      Object.assign(column, value)
      Object.assign(json, value)
    }
    columnOps.push(column)
    jsonOps.push(json)
  }
  const deps = [...generated.deps].sort()
  const { seq, time } = generated
  const change: NewChange = { actors, seq, startOp, time, deps, ops: columnOps }
  const json = { actor: author, seq, startOp, time, message: null, deps, ops: jsonOps }
  return { change, json }
}

const encodeChange = (json: unknown) => A.encodeChange(json as Parameters<typeof A.encodeChange>[0])

describe('edit changes: predecessors and deletes', () => {
  it('are written byte for byte as Automerge.encodeChange writes them', () => {
    const seen = { several: 0, del: 0, genesis: 0, author: 0 }
    fc.assert(
      fc.property(editChangeArb, (generated) => {
        const { change, json } = newEdit(generated)
        const bytes = writeChangeColumns(change)
        expect(bytes).toBeDefined()
        expect(hex(bytes!)).toBe(hex(encodeChange(json)))
        const preds = change.ops.flatMap((op) => op.pred ?? [])
        if (change.ops.some((op) => (op.pred?.length ?? 0) > 1)) seen.several++
        if (change.ops.some((op) => op.action === 'del')) seen.del++
        if (preds.some(({ actor }) => change.actors[actor] === GENESIS_ACTOR)) seen.genesis++
        if (preds.some(({ actor }) => actor === 0)) seen.author++
      }),
      { numRuns: 1000, ...seed },
    )
    // Several predecessors of one op (their order), deletes, and predecessors by the
    // genesis actor and by the author must all come up often.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(100)
  })

  it('are read from encodeChange’s bytes as Automerge.decodeChange reads them', () => {
    fc.assert(
      fc.property(editChangeArb, (generated) => {
        const { change, json } = newEdit(generated)
        const bytes = encodeChange(json)
        const hash = A.decodeChange(bytes).hash
        expect(readChangeColumns(bytes)).toEqual({ ...change, hash })
        expect(readSimpleChange(bytes)).toEqual(A.decodeChange(bytes))
      }),
      { numRuns: 1000, ...seed },
    )
  })
})

describe('an edit of a real facet document', () => {
  it('is read as Automerge.decodeChange reads it, and written again byte for byte', () => {
    const created = encodeNewFacet(
      'person',
      {
        firstName: 'Anna',
        lastName: 'Smith',
        roles: ['a'],
        links: { web: 'w', mail: 'm' },
        age: 40,
      },
      stamp,
      actor,
    )
    const later = (n: number): WriteStamp => ({ ...stamp, at: stamp.at + n * 1000 })
    let doc: Doc = A.load<FacetDoc>(created, { actor: 'ee'.repeat(16) })
    const changes: Uint8Array[] = []
    const edit = (patch: Record<string, FieldValue | null>, n: number) => {
      doc = changeFacetDoc(doc, patch, later(n))!
      changes.push(A.getLastLocalChange(doc)!)
    }
    edit({ firstName: 'Anne' }, 1) // an overwrite of a field and of its stamp
    edit({ lastName: null, age: 41 }, 2) // a delete, and an integer overwritten
    edit({ roles: ['b', 'c'], links: { web: 'w2' } }, 3) // a list made anew; a map key deleted
    edit({ firstName: 'Ann', nickname: 'A' }, 4) // a new field beside an overwrite
    // A conflict (the genesis actor's root maps, two writers' values), then its settling:
    // one op overwriting two, and a stamp overwriting two.
    const other = A.clone(doc, { actor: '0123'.repeat(8) })
    const theirs = changeFacetDoc(other, { firstName: 'Annie' }, later(5))!
    edit({ firstName: 'Anya' }, 5)
    doc = A.merge(doc, theirs)
    edit({ firstName: 'Anja' }, 6)
    A.free(theirs)

    const ops = changes.flatMap((change) => A.decodeChange(change).ops)
    expect(ops.some((op) => op.action === 'del')).toBe(true)
    expect(ops.some((op) => op.pred.length > 1)).toBe(true)
    for (const change of changes) {
      const read = readChangeColumns(change)
      expect(read).toBeDefined()
      expect(readSimpleChange(change)).toEqual(A.decodeChange(change))
      const { hash, ...written } = read!
      expect(hash).toBe(A.decodeChange(change).hash)
      expect(hex(writeChangeColumns(written)!)).toBe(hex(change))
    }
    A.free(doc)
  })
})
