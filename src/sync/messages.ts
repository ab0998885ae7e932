// The sync protocol's messages, CBOR inside sealed frames; a large batch travels deflated,
// as `{ t: 'z', d: <deflate-raw of the batch's CBOR> }`. Every message that arrives is
// checked here; one that does not fit closes the session (the peer broke the protocol).
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { decode, encode } from 'cborg'
import { isObjectId, parseFacetId, type FacetId, type ObjectId } from '../model/index.ts'

export type SyncMessage =
  /** "Send me your feed after this sequence number" — once, at the start of a session. */
  | { t: 'want'; after: number; resume?: string }
  /** How much the sender is about to send for the want (facets, roughly), and its feed end. */
  | { t: 'plan'; total: number; lastSeq: number }
  /**
   * Whole facets; `upTo` is the sender's feed sequence they cover. During a first sync,
   * `resume` is where the sender's scan stands after this batch: opaque to the receiver,
   * which hands it back in its next `want` to resume an interrupted first sync.
   */
  | { t: 'batch'; items: [FacetId, Uint8Array][]; upTo: number; resume?: string }
  /** The receiver can take `n` more batches. */
  | { t: 'credit'; n: number }
  /** The sender has caught up; what follows are live changes. */
  | { t: 'live' }
  /** Nothing to say: the session is alive (sent when it has been quiet for a while). */
  | { t: 'tick' }
  /** These objects left the receiver's scope here (they were not deleted). */
  | { t: 'left'; objects: ObjectId[] }
  | BlobMessage

/** File contents, fetched by the side that lacks them, chunk by chunk. */
export type BlobMessage =
  /** "Describe the content file object `object` names": a manifest or blob-none comes back. */
  | { t: 'blob-get'; sha256: string; object: ObjectId }
  /** The content's size and chunking, with each chunk's sha256 (32 bytes each, in order). */
  | { t: 'blob-manifest'; sha256: string; size: number; chunkBytes: number; chunks: Uint8Array }
  /** The content can't be had from this peer (not held, or not shared), and why. */
  | { t: 'blob-none'; sha256: string; reason: string }
  | { t: 'chunk-get'; sha256: string; index: number }
  | { t: 'chunk'; sha256: string; index: number; data: Uint8Array }

const BLOB_MESSAGES = new Set(['blob-get', 'blob-manifest', 'blob-none', 'chunk-get', 'chunk'])

export function isBlobMessage(message: SyncMessage): message is BlobMessage {
  return BLOB_MESSAGES.has(message.t)
}

// A batch is deflated before it is sealed: the facets of one batch share field names,
// instance ids and write stamps, and a first-sync batch shrinks to about 13 %, so the
// sender seals, and the receiver opens, an eighth of the bytes (tweetnacl is the
// slowest stage after decoding). Level 1: 3 ms a MiB, against 41 ms to seal it.
const COMPRESS_FROM_BYTES = 1024
/** No batch inflates past the largest frame: anything bigger is refused, not allocated. */
export const MAX_INFLATED_BYTES = 4 * 1024 * 1024

export function encodeMessage(message: SyncMessage): Uint8Array {
  const plain = encode(message)
  if (message.t !== 'batch' || plain.length < COMPRESS_FROM_BYTES) return plain
  const packed = deflateRawSync(plain, { level: 1 })
  return packed.length < plain.length ? encode({ t: 'z', d: packed }) : plain
}

const isSha256 = (value: unknown): value is string =>
  typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

const MAX_LEFT_OBJECTS = 100_000

/** Resume tokens are short strings; the sender checks what is inside. */
export const MAX_TOKEN_LENGTH = 1024
const isToken = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= MAX_TOKEN_LENGTH

/** The message, or a reason it is refused. */
export function decodeMessage(bytes: Uint8Array, inflated = false): SyncMessage | string {
  let value: unknown
  try {
    value = decode(bytes)
  } catch {
    return 'not CBOR'
  }
  if (typeof value !== 'object' || value === null) return 'not a message'
  const message = value as Record<string, unknown>
  switch (message.t) {
    case 'want':
      if (!isCount(message.after)) return 'want without a valid "after"'
      if (message.resume === undefined) return { t: 'want', after: message.after }
      return isToken(message.resume)
        ? { t: 'want', after: message.after, resume: message.resume }
        : 'want with a malformed resume token'
    case 'plan':
      return isCount(message.total) && isCount(message.lastSeq)
        ? { t: 'plan', total: message.total, lastSeq: message.lastSeq }
        : 'plan without valid counts'
    case 'credit':
      return isCount(message.n) && message.n <= 1024
        ? { t: 'credit', n: message.n }
        : 'credit out of range'
    case 'live':
      return { t: 'live' }
    case 'tick':
      return { t: 'tick' }
    case 'left':
      return Array.isArray(message.objects) &&
        message.objects.length <= MAX_LEFT_OBJECTS &&
        message.objects.every(isObjectId)
        ? { t: 'left', objects: message.objects }
        : 'left without a list of object ids'
    case 'blob-get':
      return isSha256(message.sha256) && isObjectId(message.object)
        ? { t: 'blob-get', sha256: message.sha256, object: message.object }
        : 'blob-get without a sha256 and an object id'
    case 'blob-manifest':
      return isSha256(message.sha256) &&
        isCount(message.size) &&
        isCount(message.chunkBytes) &&
        message.chunks instanceof Uint8Array &&
        message.chunks.length % 32 === 0
        ? {
            t: 'blob-manifest',
            sha256: message.sha256,
            size: message.size,
            chunkBytes: message.chunkBytes,
            chunks: message.chunks,
          }
        : 'blob-manifest without a sha256, sizes and 32-byte chunk hashes'
    case 'blob-none':
      return isSha256(message.sha256) &&
        typeof message.reason === 'string' &&
        message.reason.length <= 500
        ? { t: 'blob-none', sha256: message.sha256, reason: message.reason }
        : 'blob-none without a sha256 and a short reason'
    case 'chunk-get':
      return isSha256(message.sha256) && isCount(message.index)
        ? { t: 'chunk-get', sha256: message.sha256, index: message.index }
        : 'chunk-get without a sha256 and an index'
    case 'chunk':
      return isSha256(message.sha256) &&
        isCount(message.index) &&
        message.data instanceof Uint8Array
        ? { t: 'chunk', sha256: message.sha256, index: message.index, data: message.data }
        : 'chunk without a sha256, an index and data'
    case 'z': {
      // A deflated batch; it holds one plain batch, never another compressed message.
      if (inflated) return 'a compressed message inside a compressed message'
      if (!(message.d instanceof Uint8Array)) return 'compressed batch without data'
      let plain: Uint8Array
      try {
        plain = inflateRawSync(message.d, { maxOutputLength: MAX_INFLATED_BYTES })
      } catch {
        return `compressed batch that does not inflate within ${MAX_INFLATED_BYTES} bytes`
      }
      const inner = decodeMessage(plain, true)
      if (typeof inner === 'string') return `in a compressed batch: ${inner}`
      return inner.t === 'batch' ? inner : 'compressed message that is not a batch'
    }
    case 'batch': {
      if (!isCount(message.upTo) || !Array.isArray(message.items))
        return 'batch without items or upTo'
      for (const item of message.items as unknown[]) {
        if (
          !Array.isArray(item) ||
          item.length !== 2 ||
          typeof item[0] !== 'string' ||
          parseFacetId(item[0]) === undefined ||
          !(item[1] instanceof Uint8Array)
        ) {
          return 'batch with a malformed item'
        }
      }
      const batch = {
        t: 'batch' as const,
        items: message.items as [FacetId, Uint8Array][],
        upTo: message.upTo,
      }
      if (message.resume === undefined) return batch
      return isToken(message.resume)
        ? { ...batch, resume: message.resume }
        : 'batch with a malformed resume token'
    }
    default:
      return `unknown message type ${JSON.stringify(message.t)}`
  }
}
