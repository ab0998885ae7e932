// The sync protocol's messages, CBOR inside sealed frames. Every message that arrives is
// checked here; one that does not fit closes the session (the peer broke the protocol).
import { decode, encode } from 'cborg'
import { parseFacetId, type FacetId } from '../model/index.ts'

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

export function encodeMessage(message: SyncMessage): Uint8Array {
  return encode(message)
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** Resume tokens are short strings; the sender checks what is inside. */
export const MAX_TOKEN_LENGTH = 1024
const isToken = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= MAX_TOKEN_LENGTH

/** The message, or a reason it is refused. */
export function decodeMessage(bytes: Uint8Array): SyncMessage | string {
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
