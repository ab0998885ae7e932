// The floor benchmark's wire format, as plain as it gets: each frame is a 4-byte length,
// a 24-byte nonce and a tweetnacl secretbox; inside, records as key length, key, value
// length, value (4-byte lengths).
import type { Socket } from 'node:net'

export function encodeRecords(records: readonly (readonly [Uint8Array, Uint8Array])[]): Uint8Array {
  const size = records.reduce((sum, [key, value]) => sum + 8 + key.length + value.length, 0)
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  let at = 0
  for (const [key, value] of records) {
    view.setUint32(at, key.length)
    out.set(key, at + 4)
    at += 4 + key.length
    view.setUint32(at, value.length)
    out.set(value, at + 4)
    at += 4 + value.length
  }
  return out
}

export function* readRecords(bytes: Uint8Array): Generator<[Uint8Array, Uint8Array]> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  while (at < bytes.length) {
    const keyLength = view.getUint32(at)
    const key = bytes.subarray(at + 4, at + 4 + keyLength)
    at += 4 + keyLength
    const valueLength = view.getUint32(at)
    yield [key, bytes.subarray(at + 4, at + 4 + valueLength)]
    at += 4 + valueLength
  }
}

export function sealedFrame(nonce: Uint8Array, box: Uint8Array): Uint8Array {
  const frame = new Uint8Array(4 + nonce.length + box.length)
  new DataView(frame.buffer).setUint32(0, nonce.length + box.length)
  frame.set(nonce, 4)
  frame.set(box, 4 + nonce.length)
  return frame
}

export async function* readSealedFrames(
  socket: Socket,
): AsyncGenerator<{ nonce: Uint8Array; box: Uint8Array }> {
  let buffered = new Uint8Array(0)
  for await (const chunk of socket) {
    const joined = new Uint8Array(buffered.length + (chunk as Buffer).length)
    joined.set(buffered)
    joined.set(chunk as Buffer, buffered.length)
    buffered = joined
    let at = 0
    while (buffered.length - at >= 4) {
      const length = new DataView(buffered.buffer, buffered.byteOffset + at).getUint32(0)
      if (buffered.length - at - 4 < length) break
      const body = buffered.slice(at + 4, at + 4 + length)
      yield { nonce: body.subarray(0, 24), box: body.subarray(24) }
      at += 4 + length
    }
    buffered = buffered.slice(at)
  }
}
