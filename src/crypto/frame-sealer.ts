// Sealing of sync frames with the pair key (tweetnacl secretbox, XSalsa20-Poly1305).
//
// secretbox alone stops tampering but not replays or reflection, so the sealed plaintext
// starts with a header that binds it to one session, one direction and one position:
//
//   plaintext = session id (16) | direction (1) | counter (8, big-endian) | payload
//   sealed    = nonce (24) | secretbox(plaintext)
//
// Nonces are 24 random bytes: with 192 bits a repeat is never expected, across restarts
// too, without keeping a counter on disk. Counters start at 0 in each session and must
// arrive exactly in order; the session id is fresh for every stream (both ends add
// randomness to it), so a frame recorded in one session opens in no other.
import nacl from 'tweetnacl'
import type { PairKey } from './pair-key.ts'

export const SESSION_ID_BYTES = 16
const NONCE_BYTES = nacl.secretbox.nonceLength // 24
const HEADER_BYTES = SESSION_ID_BYTES + 1 + 8
/** Bytes a sealed frame adds to its payload. */
export const SEAL_OVERHEAD = NONCE_BYTES + nacl.secretbox.overheadLength + HEADER_BYTES

export type Direction = 0 | 1

export type FrameRefusal =
  'too-short' | 'does-not-open' | 'wrong-session' | 'wrong-direction' | 'replayed-or-reordered'

export class FrameRefusedError extends Error {
  override readonly name = 'FrameRefusedError'
  constructor(readonly reason: FrameRefusal) {
    super(`frame refused: ${reason}`)
  }
}

export class FrameSealer {
  private counter = 0n

  constructor(
    private key: PairKey,
    private readonly session: Uint8Array,
    private readonly direction: Direction,
  ) {}

  /** Seals later frames with `key` (after a key rotation). */
  useKey(key: PairKey): void {
    this.key = key
  }

  seal(payload: Uint8Array): Uint8Array {
    const plaintext = new Uint8Array(HEADER_BYTES + payload.length)
    plaintext.set(this.session, 0)
    plaintext[SESSION_ID_BYTES] = this.direction
    new DataView(plaintext.buffer).setBigUint64(SESSION_ID_BYTES + 1, this.counter++)
    plaintext.set(payload, HEADER_BYTES)
    const nonce = nacl.randomBytes(NONCE_BYTES)
    const box = nacl.secretbox(plaintext, nonce, this.key)
    const sealed = new Uint8Array(NONCE_BYTES + box.length)
    sealed.set(nonce, 0)
    sealed.set(box, NONCE_BYTES)
    return sealed
  }
}

export class FrameOpener {
  private expected = 0n

  /** `keys`: the keys frames may be sealed with, preferred first. */
  constructor(
    private keys: readonly PairKey[],
    private readonly session: Uint8Array,
    private readonly direction: Direction,
  ) {}

  useKeys(keys: readonly PairKey[]): void {
    this.keys = keys
  }

  /** Opens a frame, returning its payload and the key it was sealed with. */
  open(sealed: Uint8Array): { payload: Uint8Array; key: PairKey } {
    if (sealed.length < NONCE_BYTES + nacl.secretbox.overheadLength + HEADER_BYTES) {
      throw new FrameRefusedError('too-short')
    }
    const nonce = sealed.subarray(0, NONCE_BYTES)
    const box = sealed.subarray(NONCE_BYTES)
    let plaintext: Uint8Array | null = null
    let usedKey: PairKey | undefined
    for (const key of this.keys) {
      plaintext = nacl.secretbox.open(box, nonce, key)
      if (plaintext !== null) {
        usedKey = key
        break
      }
    }
    if (plaintext === null || usedKey === undefined) throw new FrameRefusedError('does-not-open')
    for (let i = 0; i < SESSION_ID_BYTES; i++) {
      if (plaintext[i] !== this.session[i]) throw new FrameRefusedError('wrong-session')
    }
    if (plaintext[SESSION_ID_BYTES] !== this.direction)
      throw new FrameRefusedError('wrong-direction')
    const view = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength)
    const counter = view.getBigUint64(SESSION_ID_BYTES + 1)
    if (counter !== this.expected) throw new FrameRefusedError('replayed-or-reordered')
    this.expected++
    return { payload: plaintext.subarray(HEADER_BYTES), key: usedKey }
  }
}
