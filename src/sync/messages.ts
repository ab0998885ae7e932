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
  const message = value as Fields
  const decoder = typeof message.t === 'string' ? MESSAGE_DECODERS[message.t] : undefined
  if (decoder === undefined || !Object.hasOwn(MESSAGE_DECODERS, message.t as string)) {
    return `unknown message type ${JSON.stringify(message.t)}`
  }
  return decoder(message, inflated)
}

type Fields = Record<string, unknown>

/** One checker per message type: the typed message, or why it is refused. */
const MESSAGE_DECODERS: Record<string, (m: Fields, inflated: boolean) => SyncMessage | string> = {
  want: (m) => {
    if (!isCount(m.after)) return 'want without a valid "after"'
    if (m.resume === undefined) return { t: 'want', after: m.after }
    return isToken(m.resume)
      ? { t: 'want', after: m.after, resume: m.resume }
      : 'want with a malformed resume token'
  },
  plan: (m) =>
    isCount(m.total) && isCount(m.lastSeq)
      ? { t: 'plan', total: m.total, lastSeq: m.lastSeq }
      : 'plan without valid counts',
  credit: (m) => (isCount(m.n) && m.n <= 1024 ? { t: 'credit', n: m.n } : 'credit out of range'),
  live: () => ({ t: 'live' }),
  tick: () => ({ t: 'tick' }),
  left: (m) =>
    Array.isArray(m.objects) && m.objects.length <= MAX_LEFT_OBJECTS && m.objects.every(isObjectId)
      ? { t: 'left', objects: m.objects }
      : 'left without a list of object ids',
  'blob-get': (m) =>
    isSha256(m.sha256) && isObjectId(m.object)
      ? { t: 'blob-get', sha256: m.sha256, object: m.object }
      : 'blob-get without a sha256 and an object id',
  'blob-manifest': (m) =>
    isSha256(m.sha256) &&
    isCount(m.size) &&
    isCount(m.chunkBytes) &&
    m.chunks instanceof Uint8Array &&
    m.chunks.length % 32 === 0
      ? {
          t: 'blob-manifest',
          sha256: m.sha256,
          size: m.size,
          chunkBytes: m.chunkBytes,
          chunks: m.chunks,
        }
      : 'blob-manifest without a sha256, sizes and 32-byte chunk hashes',
  'blob-none': (m) =>
    isSha256(m.sha256) && typeof m.reason === 'string' && m.reason.length <= 500
      ? { t: 'blob-none', sha256: m.sha256, reason: m.reason }
      : 'blob-none without a sha256 and a short reason',
  'chunk-get': (m) =>
    isSha256(m.sha256) && isCount(m.index)
      ? { t: 'chunk-get', sha256: m.sha256, index: m.index }
      : 'chunk-get without a sha256 and an index',
  chunk: (m) =>
    isSha256(m.sha256) && isCount(m.index) && m.data instanceof Uint8Array
      ? { t: 'chunk', sha256: m.sha256, index: m.index, data: m.data }
      : 'chunk without a sha256, an index and data',
  z: decodeCompressed,
  batch: decodeBatch,
}

/** A deflated batch; it holds one plain batch, never another compressed message. */
function decodeCompressed(m: Fields, inflated: boolean): SyncMessage | string {
  if (inflated) return 'a compressed message inside a compressed message'
  if (!(m.d instanceof Uint8Array)) return 'compressed batch without data'
  let plain: Uint8Array
  try {
    plain = inflateRawSync(m.d, { maxOutputLength: MAX_INFLATED_BYTES })
  } catch {
    return `compressed batch that does not inflate within ${MAX_INFLATED_BYTES} bytes`
  }
  const inner = decodeMessage(plain, true)
  if (typeof inner === 'string') return `in a compressed batch: ${inner}`
  return inner.t === 'batch' ? inner : 'compressed message that is not a batch'
}

function decodeBatch(m: Fields): SyncMessage | string {
  if (!isCount(m.upTo) || !Array.isArray(m.items)) return 'batch without items or upTo'
  for (const item of m.items as unknown[]) {
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
  const batch = { t: 'batch' as const, items: m.items as [FacetId, Uint8Array][], upTo: m.upTo }
  if (m.resume === undefined) return batch
  return isToken(m.resume) ? { ...batch, resume: m.resume } : 'batch with a malformed resume token'
}
