// Automerge change chunks taken apart and put together by hand, for tests that feed the
// store bytes no honest writer makes.
import { createHash } from 'node:crypto'

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
export function withUnusedActor(change: Uint8Array, extra: string): Uint8Array {
  const body = bodyOf(change)
  let offset = 0
  const skipLeb = () => {
    while (body[offset]! & 0x80) offset++
    offset++
  }
  const readUleb = () => {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      const byte = body[offset++]!
      value += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return value
    }
  }
  // (Each length read first: `offset += readUleb()` would add to the offset before it.)
  const skipBytes = (count: number) => (offset += count)
  skipBytes(readUleb() * 32) // dependencies
  skipBytes(readUleb()) // the author
  skipLeb() // seq
  skipLeb() // startOp
  skipLeb() // time
  skipBytes(readUleb()) // message
  const countAt = offset
  const others = readUleb()
  if (others > 126) throw new Error('too many actors for this helper')
  for (let i = 0; i < others; i++) skipBytes(readUleb())
  const actor = Buffer.from(extra, 'hex')
  return chunk(
    Uint8Array.from([
      ...body.subarray(0, countAt),
      others + 1,
      ...body.subarray(countAt + 1, offset),
      ...uleb(actor.length),
      ...actor,
      ...body.subarray(offset),
    ]),
  )
}
