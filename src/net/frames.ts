// Length-prefixed frames: a 4-byte big-endian length, then that many bytes. The length is
// checked before anything is buffered, so a peer can't make us hold more than one frame
// of at most `maxBytes`.
import { takeBytes } from '../bytes.ts'
import { ObjectSyncError } from '../errors.ts'

// 4 MiB: room for hundreds of facets in one frame, small enough that a hostile peer
// can't use it to exhaust memory.
export const MAX_FRAME_BYTES = 4 << 20
/** The length prefix of every frame. */
export const FRAME_HEADER_BYTES = 4
const LENGTH_BYTES = FRAME_HEADER_BYTES

export function encodeFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(LENGTH_BYTES + body.length)
  new DataView(frame.buffer).setUint32(0, body.length)
  frame.set(body, LENGTH_BYTES)
  return frame
}

export type FramingProblem = 'too-large' | 'truncated'

export class FramingError extends ObjectSyncError {
  constructor(
    readonly problem: FramingProblem,
    message: string,
  ) {
    super('FRAME_REFUSED', message, { details: { reason: problem } })
  }
}

/** Splits a byte stream into frames; throws FramingError on an oversized or cut frame. */
export async function* readFrames(
  chunks: AsyncIterable<Uint8Array>,
  maxBytes: number = MAX_FRAME_BYTES,
): AsyncGenerator<Uint8Array> {
  // Chunks are kept as they arrive and joined once a whole frame is there, so a 4 MiB
  // frame in 64 KiB chunks is copied once, not once per chunk.
  const pending: Uint8Array[] = []
  let pendingBytes = 0
  let needed = LENGTH_BYTES
  let bodyLength: number | undefined
  for await (const chunk of chunks) {
    pending.push(chunk)
    pendingBytes += chunk.length
    while (pendingBytes >= needed) {
      const joined = takeBytes(pending, needed)
      pendingBytes -= needed
      if (bodyLength === undefined) {
        bodyLength = new DataView(joined.buffer, joined.byteOffset, LENGTH_BYTES).getUint32(0)
        if (bodyLength > maxBytes) {
          throw new FramingError(
            'too-large',
            `a frame of ${bodyLength} bytes exceeds the limit of ${maxBytes}`,
          )
        }
        needed = bodyLength
        if (bodyLength > 0) continue
      }
      yield bodyLength === 0 ? new Uint8Array(0) : joined
      bodyLength = undefined
      needed = LENGTH_BYTES
    }
  }
  if (pendingBytes > 0 || bodyLength !== undefined) {
    throw new FramingError('truncated', `the stream ended inside a frame (${pendingBytes} bytes)`)
  }
}
