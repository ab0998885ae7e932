// The cryptography of pairing. The joiner proves it holds the invite's secret without
// sending it, and the inviter proves the same back. Both proofs are HMACs over a
// transcript that names both instance ids (authenticated by the Noise handshake of this
// connection) and fresh random values from both sides, so a recorded exchange proves
// nothing on any other connection. The pair key comes from an X25519 exchange of
// ephemeral keys, salted with the secret: it never crosses the wire, and a token stolen
// after the fact does not reveal it.
import { createHmac, hkdfSync } from 'node:crypto'
import nacl from 'tweetnacl'
import { asPairKey, sameBytes, type PairKey } from './pair-key.ts'

export const PAIRING_NONCE_BYTES = 16

export interface PairingTranscript {
  inviter: string
  joiner: string
  inviteId: Uint8Array
  joinerEphemeral: Uint8Array
  inviterEphemeral: Uint8Array
  joinerNonce: Uint8Array
  inviterNonce: Uint8Array
}

export interface EphemeralKey {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

export function newEphemeralKey(): EphemeralKey {
  return nacl.box.keyPair()
}

export function pairingNonce(): Uint8Array {
  return nacl.randomBytes(PAIRING_NONCE_BYTES)
}

function transcriptBytes(transcript: PairingTranscript): Buffer {
  const parts = [
    Buffer.from(transcript.inviter),
    Buffer.from(transcript.joiner),
    transcript.inviteId,
    transcript.joinerEphemeral,
    transcript.inviterEphemeral,
    transcript.joinerNonce,
    transcript.inviterNonce,
  ]
  // Each part is length-prefixed, so no two different transcripts share bytes.
  return Buffer.concat(
    parts.flatMap((part) => {
      const length = Buffer.alloc(4)
      length.writeUInt32BE(part.length)
      return [length, part]
    }),
  )
}

export function pairingProof(
  secret: Uint8Array,
  role: 'joiner' | 'inviter',
  transcript: PairingTranscript,
): Uint8Array {
  return createHmac('sha256', secret)
    .update(`objectsync pair proof v1\0${role}\0`)
    .update(transcriptBytes(transcript))
    .digest()
}

export function checkPairingProof(
  proof: unknown,
  secret: Uint8Array,
  role: 'joiner' | 'inviter',
  transcript: PairingTranscript,
): boolean {
  return proof instanceof Uint8Array && sameBytes(proof, pairingProof(secret, role, transcript))
}

/** The pair key, or undefined when the peer's ephemeral key is degenerate. */
export function derivePairKey(
  secret: Uint8Array,
  own: EphemeralKey,
  theirs: Uint8Array,
  transcript: PairingTranscript,
): PairKey | undefined {
  if (theirs.length !== nacl.box.publicKeyLength) return undefined
  const shared = nacl.scalarMult(own.secretKey, theirs)
  // A low-order public key gives an all-zero shared value: refuse it.
  if (shared.every((byte) => byte === 0)) return undefined
  const info = Buffer.concat([Buffer.from('objectsync pair key v1\0'), transcriptBytes(transcript)])
  return asPairKey(new Uint8Array(hkdfSync('sha256', shared, secret, info, 32)))
}
