// Automerge change chunks taken apart and put together by hand, for tests that feed the
// store bytes no honest writer makes.
import { createHash } from 'node:crypto'
import * as A from '@automerge/automerge'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { changeFacetDoc, type FacetDoc } from '../../src/store/facet-doc.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { anna, openStore } from './stores.ts'

export function uleb(value: number): number[] {
  const out: number[] = []
  do {
    let byte = value & 0x7f
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    out.push(byte)
  } while (value > 0)
  return out
}

/** A change chunk around `body`, with a correct checksum. */
export function chunk(body: Uint8Array): Uint8Array {
  const hashed = Uint8Array.from([1, ...uleb(body.length), ...body])
  const checksum = createHash('sha256').update(hashed).digest().subarray(0, 4)
  return Uint8Array.from([0x85, 0x6f, 0x4a, 0x83, ...checksum, ...hashed])
}

export function bodyOf(change: Uint8Array): Uint8Array {
  let offset = 9
  while (change[offset]! & 0x80) offset++
  return change.subarray(offset + 1)
}

/**
 * The change with one more actor (`extra`, hex) in its list of other actors, which no op
 * names: Automerge decodes and loads it, but can't load the snapshot it saves of it.
 */
/** Reads the fields of a change body up to its column table. */
class BodyReader {
  offset = 0
  constructor(readonly body: Uint8Array) {}

  uleb(): number {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      const byte = this.body[this.offset++]!
      value += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return value
    }
  }

  // (Each length read first: `offset += uleb()` would add to the offset before it.)
  skip(count: number): void {
    this.offset += count
  }

  /** Skips the dependencies, author, seq, startOp, time and message. */
  skipHeader(): void {
    this.skip(this.uleb() * 32) // dependencies
    this.skip(this.uleb()) // the author
    this.uleb() // seq
    this.uleb() // startOp
    this.uleb() // time (its sign is of no matter to the length)
    this.skip(this.uleb()) // message
  }
}

/**
 * The change with one more actor (`extra`, hex) in its list of other actors, which no op
 * names: Automerge decodes and loads it, but can't load the snapshot it saves of it.
 */
export function withUnusedActor(change: Uint8Array, extra: string): Uint8Array {
  const body = bodyOf(change)
  const reader = new BodyReader(body)
  reader.skipHeader()
  const countAt = reader.offset
  const others = reader.uleb()
  if (others > 126) throw new Error('too many actors for this helper')
  for (let i = 0; i < others; i++) reader.skip(reader.uleb())
  const actor = Buffer.from(extra, 'hex')
  return chunk(
    Uint8Array.from([
      ...body.subarray(0, countAt),
      others + 1,
      ...body.subarray(countAt + 1, reader.offset),
      ...uleb(actor.length),
      ...actor,
      ...body.subarray(reader.offset),
    ]),
  )
}

/** The change with the column `spec` holding `bytes` instead (its checksum made right). */
export function withColumn(change: Uint8Array, spec: number, bytes: readonly number[]): Uint8Array {
  const body = bodyOf(change)
  const reader = new BodyReader(body)
  reader.skipHeader()
  for (let others = reader.uleb(); others > 0; others--) reader.skip(reader.uleb())
  const tableAt = reader.offset
  const columns: [number, Uint8Array][] = []
  const sizes: [number, number][] = []
  for (let n = reader.uleb(); n > 0; n--) sizes.push([reader.uleb(), reader.uleb()])
  for (const [id, size] of sizes) {
    columns.push([id, body.subarray(reader.offset, reader.offset + size)])
    reader.skip(size)
  }
  const replaced = columns.map(([id, data]): [number, Uint8Array] =>
    id === spec ? [id, Uint8Array.from(bytes)] : [id, data],
  )
  if (!columns.some(([id]) => id === spec)) throw new Error(`no column ${spec} in the change`)
  return chunk(
    Uint8Array.from([
      ...body.subarray(0, tableAt),
      ...uleb(replaced.length),
      ...replaced.flatMap(([id, data]) => [...uleb(id), ...uleb(data.length)]),
      ...replaced.flatMap(([, data]) => [...data]),
    ]),
  )
}

/** A store holding one person (Anna), and a peer's honest edit of it as Automerge makes it. */
export async function storeWithPerson(memory = new MemoryStorage()): Promise<{
  store: ObjectStore
  object: ObjectId
  facet: FacetId
  stored: Uint8Array
  edit: Uint8Array
}> {
  const store = await openStore(memory, { instanceId: 'b' as InstanceId })
  const made = await store.create({ type: 'person', fields: anna })
  const facet = `${made.id}/core` as FacetId
  const stored = (await store.getFacetBytes(facet))!
  const doc = A.load<FacetDoc>(stored, { actor: 'eeeeeeee' })
  const next = changeFacetDoc(doc, { firstName: 'Mallory' }, { by: EDITING_PEER, at: 2_000_000 })!
  const edit = A.getLastLocalChange(next)!
  A.free(next)
  return { store, object: made.id, facet, stored, edit }
}

/** The peer whose edit storeWithPerson makes. */
export const EDITING_PEER = 'a' as InstanceId
