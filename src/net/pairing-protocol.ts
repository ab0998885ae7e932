// The two sides of the pairing exchange, over one stream of the pairing protocol.
// Messages are CBOR in length-prefixed frames; Noise already encrypts and authenticates
// the connection, and the proofs bind the exchange to it (src/crypto/pairing-proof.ts).
//
//   joiner  → inviter   hello      { invite id, ephemeral key, nonce, name, addresses }
//   inviter → joiner    challenge  { ephemeral key, nonce }            or refused
//   joiner  → inviter   proof      { HMAC(secret, transcript, "joiner") }
//   inviter → joiner    accepted   { HMAC(secret, transcript, "inviter"), name, addresses } or refused
import { multiaddr } from '@multiformats/multiaddr'
import { decode, encode } from 'cborg'
import {
  checkPairingProof,
  derivePairKey,
  newEphemeralKey,
  pairingNonce,
  pairingProof,
  type Invite,
  type PairingTranscript,
  type PairKey,
} from '../crypto/index.ts'
import { ObjectSyncError } from '../errors.ts'
import type { InstanceId } from '../model/index.ts'
import { sameName } from '../model/index.ts'
import type { ByteStream } from './byte-stream.ts'
import { withDeadline } from './deadline.ts'
import { encodeFrame, readFrames } from './frames.ts'

export const PAIR_PROTOCOL = '/objectsync/pair/1.0.0'
const MAX_MESSAGE_BYTES = 16 << 10
const STEP_TIMEOUT_MS = 10_000

export interface PairedPeer {
  id: InstanceId
  name: string
  addresses: string[]
  key: PairKey
}

type Message = Record<string, unknown> & { t: string }

class PairingConversation {
  private readonly frames: AsyncGenerator<Uint8Array>

  constructor(private readonly stream: ByteStream) {
    this.frames = readFrames(stream, MAX_MESSAGE_BYTES)
  }

  async send(message: Message): Promise<void> {
    await this.stream.send(encodeFrame(encode(message)))
  }

  async receive(expected: string): Promise<Message> {
    const next = await withDeadline(this.frames.next(), STEP_TIMEOUT_MS, `no "${expected}"`)
    if (next.done) throw new Error('the other side closed the stream')
    const message = decode(next.value) as unknown
    if (
      typeof message !== 'object' ||
      message === null ||
      typeof (message as Message).t !== 'string'
    ) {
      throw new Error('an unreadable message')
    }
    const typed = message as Message
    if (typed.t === 'refused') {
      throw new ObjectSyncError('INVITE_REFUSED', `the inviter refused: ${String(typed.reason)}`)
    }
    if (typed.t !== expected) throw new Error(`expected "${expected}", got "${typed.t}"`)
    return typed
  }
}

function bytesField(message: Message, field: string, length: number): Uint8Array {
  const value = message[field]
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new Error(`"${message.t}" has no valid ${field}`)
  }
  return value
}

/** A peer's name as it says it, at most this many characters. */
const MAX_PEER_NAME = 64
/** Direct addresses kept of those a peer claims, and addresses through relays. */
const MAX_PEER_ADDRESSES = 4
const MAX_RELAYED_ADDRESSES = 2
const MAX_ADDRESS_LENGTH = 256
/** Where an address a peer suggests may point: an IP or DNS host, then TCP. */
const DIALABLE_HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/**
 * The name a peer gives itself, as we keep it: one line of printable text, at most
 * MAX_PEER_NAME characters; `fallback` (its id) when it gives none.
 */
export function peerName(value: unknown, fallback: string): string {
  if (typeof value !== 'string') return fallback
  // Control and format characters (zero-width, bidi overrides) become spaces.
  const text = value.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ').trim()
  const name = [...text].slice(0, MAX_PEER_NAME).join('').trim()
  return name === '' ? fallback : name
}

/**
 * The addresses a peer claims, as we keep them: IP or DNS hosts over TCP (with its /p2p
 * id, if given), at most MAX_PEER_ADDRESSES, and such addresses of a relay with
 * /p2p-circuit (reached only if that relay is paired here too), at most
 * MAX_RELAYED_ADDRESSES; no duplicates. Anything else a peer suggests (another transport,
 * a unix socket) is never dialled.
 */
export function peerAddresses(value: unknown): string[] {
  if (!Array.isArray(value)) return []
  const direct: string[] = []
  const relayed: string[] = []
  for (const item of value) {
    if (typeof item !== 'string' || item.length > MAX_ADDRESS_LENGTH) continue
    const kind = addressKind(item)
    const kept = kind === 'direct' ? direct : kind === 'relayed' ? relayed : undefined
    const most = kind === 'direct' ? MAX_PEER_ADDRESSES : MAX_RELAYED_ADDRESSES
    if (kept !== undefined && kept.length < most && !kept.includes(item)) kept.push(item)
  }
  return [...direct, ...relayed]
}

/** Whether a peer's suggested address may be dialled: see peerAddresses. */
export function addressKind(address: string): 'direct' | 'relayed' | undefined {
  try {
    const names = multiaddr(address)
      .getComponents()
      .map((component) => component.name)
    if (!DIALABLE_HOSTS.has(names[0] ?? '') || names[1] !== 'tcp') return undefined
    const rest = names.slice(2).join('/')
    if (rest === '' || rest === 'p2p') return 'direct'
    return rest === 'p2p/p2p-circuit' || rest === 'p2p/p2p-circuit/p2p' ? 'relayed' : undefined
  } catch {
    return undefined
  }
}

/** The joining side: proves it holds `invite`'s secret and derives the pair key. */
export async function joinPairing(
  stream: ByteStream,
  invite: Invite,
  self: { id: InstanceId; name: string; addresses: string[] },
): Promise<PairedPeer> {
  const talk = new PairingConversation(stream)
  const ephemeral = newEphemeralKey()
  const nonce = pairingNonce()
  await talk.send({
    t: 'hello',
    invite: invite.id,
    eph: ephemeral.publicKey,
    nonce,
    name: self.name,
    addrs: self.addresses,
  })
  const challenge = await talk.receive('challenge')
  const transcript: PairingTranscript = {
    inviter: invite.inviter,
    joiner: self.id,
    inviteId: invite.id,
    joinerEphemeral: ephemeral.publicKey,
    inviterEphemeral: bytesField(challenge, 'eph', 32),
    joinerNonce: nonce,
    inviterNonce: bytesField(challenge, 'nonce', 16),
  }
  await talk.send({ t: 'proof', mac: pairingProof(invite.secret, 'joiner', transcript) })
  const accepted = await talk.receive('accepted')
  if (!checkPairingProof(accepted.mac, invite.secret, 'inviter', transcript)) {
    throw new ObjectSyncError(
      'INVITE_REFUSED',
      `${invite.inviter} could not prove it made this invite`,
    )
  }
  const key = derivePairKey(invite.secret, ephemeral, transcript.inviterEphemeral, transcript)
  if (key === undefined)
    throw new ObjectSyncError('INVITE_REFUSED', 'the inviter sent a degenerate key')
  await stream.close().catch(() => {})
  return {
    id: invite.inviter as InstanceId,
    name: peerName(accepted.name, peerName(invite.name, invite.inviter)),
    addresses:
      peerAddresses(accepted.addrs).length > 0 ? peerAddresses(accepted.addrs) : invite.addresses,
    key,
  }
}

/**
 * The inviting side. `takeInvite` finds an open invite by id and consumes it (single
 * use, also when the proof then fails), or returns a reason to refuse.
 */
export async function acceptPairing(
  stream: ByteStream,
  joiner: InstanceId,
  self: { id: InstanceId; name: string; addresses: string[] },
  takeInvite: (id: Uint8Array) => Invite | string,
): Promise<PairedPeer> {
  const talk = new PairingConversation(stream)
  const hello = await talk.receive('hello')
  const invite = takeInvite(bytesField(hello, 'invite', 8))
  if (typeof invite === 'string') {
    await talk.send({ t: 'refused', reason: invite })
    throw new ObjectSyncError('INVITE_REFUSED', `pairing from ${joiner} refused: ${invite}`)
  }
  const ephemeral = newEphemeralKey()
  const nonce = pairingNonce()
  const transcript: PairingTranscript = {
    inviter: self.id,
    joiner,
    inviteId: invite.id,
    joinerEphemeral: bytesField(hello, 'eph', 32),
    inviterEphemeral: ephemeral.publicKey,
    joinerNonce: bytesField(hello, 'nonce', 16),
    inviterNonce: nonce,
  }
  await talk.send({ t: 'challenge', eph: ephemeral.publicKey, nonce })
  const proof = await talk.receive('proof')
  const key = checkPairingProof(proof.mac, invite.secret, 'joiner', transcript)
    ? derivePairKey(invite.secret, ephemeral, transcript.joinerEphemeral, transcript)
    : undefined
  if (key === undefined) {
    await talk.send({ t: 'refused', reason: 'the proof does not match the invite (wrong secret)' })
    throw new ObjectSyncError('INVITE_REFUSED', `pairing from ${joiner} refused: wrong secret`)
  }
  await talk.send({
    t: 'accepted',
    mac: pairingProof(invite.secret, 'inviter', transcript),
    name: self.name,
    addrs: self.addresses,
  })
  return {
    id: joiner,
    name: peerName(hello.name, joiner),
    addresses: peerAddresses(hello.addrs),
    key,
  }
}

export { sameName }
