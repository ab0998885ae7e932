// The unsealed hello each side of a sealed channel sends first: a fresh nonce, the ids of
// the pair keys it holds, and the versions of the sync protocol it speaks. A CBOR map, so
// a later objectsync can add to it and an earlier one reads what it knows.
import { createHash } from 'node:crypto'
import { decode, encode } from 'cborg'
import { SESSION_ID_BYTES } from '../crypto/index.ts'

/** The hello's own layout; a peer that sends another is refused as a bad hello. */
const HELLO_VERSION = 1
export const HELLO_NONCE_BYTES = 16
const MAX_HELLO_BYTES = 1024
const KEY_ID_BYTES = 8

export interface ProtocolVersions {
  min: number
  max: number
}

/**
 * The versions of the sync protocol (the messages inside sealed frames) this objectsync
 * speaks. A session uses the highest both sides speak; peers with none in common refuse
 * each other at the hello, both sides with the same message. Raise `max` for a new message
 * format a peer without it can't read, and `min` when the old one is dropped; a hello
 * without versions is from before they were sent, which spoke version 1.
 */
export const SYNC_PROTOCOL_VERSIONS: ProtocolVersions = { min: 1, max: 1 }

export interface Hello {
  nonce: Uint8Array
  keyIds: Uint8Array[]
  versions: ProtocolVersions
}

export function encodeHello(hello: Hello): Uint8Array {
  const { nonce, keyIds, versions } = hello
  return encode({ v: HELLO_VERSION, n: nonce, k: keyIds, p: [versions.min, versions.max] })
}

export function parseHello(frame: Uint8Array): Hello | undefined {
  if (frame.length > MAX_HELLO_BYTES) return undefined
  let hello: unknown
  try {
    hello = decode(frame)
  } catch {
    return undefined
  }
  if (typeof hello !== 'object' || hello === null) return undefined
  const { v, n, k, p } = hello as { v?: unknown; n?: unknown; k?: unknown; p?: unknown }
  if (v !== HELLO_VERSION || !(n instanceof Uint8Array) || n.length !== HELLO_NONCE_BYTES)
    return undefined
  if (!Array.isArray(k) || k.length < 1 || k.length > 2) return undefined
  if (!k.every((id) => id instanceof Uint8Array && id.length === KEY_ID_BYTES)) return undefined
  const versions = p === undefined ? { min: 1, max: 1 } : parseVersions(p)
  if (versions === undefined) return undefined
  return { nonce: n, keyIds: k as Uint8Array[], versions }
}

/**
 * The highest version both speak, or, when there is none, what to tell the user: the
 * message names the side that must upgrade (each side sees it from its own end).
 */
export function commonVersion(own: ProtocolVersions, peer: ProtocolVersions): number | string {
  const version = Math.min(own.max, peer.max)
  if (version >= Math.max(own.min, peer.min)) return version
  const upgrade = peer.max < own.min ? 'the peer must upgrade' : 'upgrade this instance'
  return `the peer speaks sync protocol ${range(peer)} and this objectsync ${range(own)}: ${upgrade}`
}

function parseVersions(value: unknown): ProtocolVersions | undefined {
  if (!Array.isArray(value) || value.length !== 2) return undefined
  const [min, max] = value as unknown[]
  const isVersion = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 1
  if (!isVersion(min) || !isVersion(max) || min > max) return undefined
  return { min, max }
}

function range({ min, max }: ProtocolVersions): string {
  return min === max ? `version ${min}` : `versions ${min}–${max}`
}

/** The session id both sides derive from the two hellos: every sealed frame names it. */
export function sessionId(
  dialerNonce: Uint8Array,
  listenerNonce: Uint8Array,
  dialer: string,
  listener: string,
): Uint8Array {
  return createHash('sha256')
    .update('objectsync session v1\0')
    .update(dialerNonce)
    .update(listenerNonce)
    .update(`${dialer}\0${listener}`)
    .digest()
    .subarray(0, SESSION_ID_BYTES)
}
