// One-time pairing invites. A token carries what the joining instance needs to reach and
// convince the inviter: its id, addresses and name, an invite id, a fresh 32-byte secret
// and an expiry. It is a secret: whoever holds it can pair while it is open.
//
//   token = "os1." + base64url(CBOR [id, addresses, name, inviteId, secret, expiresAt])
import { decode, encode } from 'cborg'
import nacl from 'tweetnacl'
import { ObjectSyncError } from '../errors.ts'

const TOKEN_PREFIX = 'os1.'
export const INVITE_SECRET_BYTES = 32
export const INVITE_ID_BYTES = 8
// A token is a few hundred bytes; anything far larger is not one of ours.
const MAX_TOKEN_LENGTH = 4096
// The furthest a JavaScript Date reaches either side of 1970 (±8.64e15 ms), in seconds: an
// expiry beyond it could not even be shown.
const MAX_EXPIRY_SECONDS = 8.64e12

export interface Invite {
  /** The inviter's instance id (its libp2p PeerId). */
  inviter: string
  addresses: string[]
  name: string
  id: Uint8Array
  secret: Uint8Array
  /** Milliseconds since the epoch. */
  expiresAt: number
}

export function newInvite(
  inviter: Omit<Invite, 'id' | 'secret' | 'expiresAt'>,
  ttlMs: number,
  now = Date.now(),
): Invite {
  return {
    ...inviter,
    id: nacl.randomBytes(INVITE_ID_BYTES),
    secret: nacl.randomBytes(INVITE_SECRET_BYTES),
    expiresAt: now + ttlMs,
  }
}

export function encodeInvite(invite: Invite): string {
  const body = encode([
    invite.inviter,
    invite.addresses,
    invite.name,
    invite.id,
    invite.secret,
    Math.floor(invite.expiresAt / 1000),
  ]) as Uint8Array
  return TOKEN_PREFIX + Buffer.from(body).toString('base64url')
}

function refuse(reason: string): never {
  throw new ObjectSyncError('INVALID_INVITE', `the pairing token is not valid: ${reason}`)
}

export function decodeInvite(token: string): Invite {
  const text = token.trim()
  if (text.length > MAX_TOKEN_LENGTH) refuse('it is too long')
  if (!text.startsWith(TOKEN_PREFIX)) {
    refuse(`it should start with "${TOKEN_PREFIX}" (made by a different version, or not a token)`)
  }
  const body = text.slice(TOKEN_PREFIX.length)
  if (!/^[A-Za-z0-9_-]+$/.test(body)) refuse('it holds characters that base64url does not use')
  let fields: unknown
  try {
    fields = decode(Buffer.from(body, 'base64url'))
  } catch {
    refuse('it is truncated or damaged')
  }
  if (!Array.isArray(fields) || fields.length !== 6) refuse('it is truncated or damaged')
  const [inviter, addresses, name, id, secret, expiresAt] = fields as unknown[]
  if (typeof inviter !== 'string' || inviter.length === 0 || inviter.length > 128)
    refuse('no inviter id')
  if (!Array.isArray(addresses) || !addresses.every((a) => typeof a === 'string')) {
    refuse('no addresses')
  }
  if (typeof name !== 'string') refuse('no inviter name')
  if (!(id instanceof Uint8Array) || id.length !== INVITE_ID_BYTES) refuse('no invite id')
  if (!(secret instanceof Uint8Array) || secret.length !== INVITE_SECRET_BYTES) refuse('no secret')
  if (
    typeof expiresAt !== 'number' ||
    !Number.isSafeInteger(expiresAt) ||
    Math.abs(expiresAt) > MAX_EXPIRY_SECONDS
  ) {
    refuse('no expiry')
  }
  return {
    inviter,
    addresses: addresses,
    name,
    id: new Uint8Array(id),
    secret: new Uint8Array(secret),
    expiresAt: expiresAt * 1000,
  }
}
