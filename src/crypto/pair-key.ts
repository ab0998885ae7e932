// Pair keys: 32 random bytes shared by exactly two instances. A key's id — a short hash,
// never the key — lets two instances agree which key to use without revealing it.
import { createHash, timingSafeEqual } from 'node:crypto'
import nacl from 'tweetnacl'

export const PAIR_KEY_BYTES = nacl.secretbox.keyLength // 32
const KEY_ID_BYTES = 8

export type PairKey = Uint8Array & { readonly __brand: 'PairKey' }

export function generatePairKey(): PairKey {
  return nacl.randomBytes(PAIR_KEY_BYTES) as PairKey
}

export function asPairKey(bytes: Uint8Array): PairKey {
  if (bytes.length !== PAIR_KEY_BYTES) {
    throw new TypeError(`a pair key has ${PAIR_KEY_BYTES} bytes, got ${bytes.length}`)
  }
  return bytes as PairKey
}

/** An 8-byte id of a key: safe to send, useless for sealing. */
export function pairKeyId(key: PairKey): Uint8Array {
  return createHash('sha256')
    .update('objectsync key id v1\0')
    .update(key)
    .digest()
    .subarray(0, KEY_ID_BYTES)
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The text form of a key file: base64 of the 32 bytes, one line. */
export function encodePairKey(key: PairKey): string {
  return `${Buffer.from(key).toString('base64')}\n`
}

/** Parses a key file's text; undefined when it does not hold a 32-byte key. */
export function decodePairKey(text: string): PairKey | undefined {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) return undefined
  return asPairKey(new Uint8Array(Buffer.from(trimmed, 'base64')))
}
