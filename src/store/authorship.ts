// Who wrote a change, proven. A write stamp says "at T, instance X", and X is what a
// source of truth (`transaction.amount → finance`) decides on; but any peer can write any
// stamp. So each change an instance makes carries, as its Automerge message, a proof
// that the instance signed it with its Ed25519 identity key — the key behind its peer id,
// so the id in a stamp is all a verifier needs. Relayed changes keep their proofs: the
// message is part of the change and of its hash.
//
// Signing every change would cost ≈ 63 µs each (≈ 6 s for 100,000 rows taken in), so the
// changes made together are signed together: a Merkle tree over their leaves, its root
// signed once, and each change's message holds the signature and its path to the root
// (≈ 240 bytes for a tree of 64). A leaf is the change as written without a message, bound
// to its facet (so that a signed change can't be replayed into another object's facet,
// which shares the same genesis). Proofs are checked only where a stamp decides something
// (a source-of-truth conflict), never on the first-sync path, and remembered.
//
// Hashes in the tree are SHA-256 truncated to 16 bytes: forging a proof means finding a
// second preimage, 2^128 work. Leaves, inner nodes and padding hash under different
// leading bytes, so none can pass for another.
import { createPrivateKey, createPublicKey, hash, sign, verify, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { Cursor, NotReadable } from './change-reader/byte-cursor.ts'
import { ByteWriter } from './change-reader/byte-writer.ts'

/** What a message holding a proof starts with; what follows is base64url. */
export const PROOF_PREFIX = 'objectsync-proof-1 '
const DOMAIN = 'objectsync authorship 1'
const NODE_BYTES = 16
const SIGNATURE_BYTES = 64
/** At most 64 changes under one signature: a path of 6 nodes. */
const MAX_DEPTH = 6
const MAX_LEAVES = 1 << MAX_DEPTH

/** An instance's identity key, as libp2p holds it (Ed25519: `raw` is seed then public key). */
export interface IdentityKey {
  readonly type: string
  readonly raw: Uint8Array
}

/** One change to sign: the facet it belongs to and its bytes without a message. */
export interface UnsignedChange {
  facet: string
  change: Uint8Array
}

/**
 * Signs this instance's changes. `sign` signs the changes asked for in the same turn of
 * the event loop together (up to 64: a page of rows taken in, the edits of a bulk change);
 * `signAll` signs a batch at once.
 */
export class ChangeSigner {
  private readonly key: KeyObject
  private waiting: (UnsignedChange & {
    resolve: (signed: Uint8Array) => void
    reject: (error: unknown) => void
  })[] = []

  constructor(key: IdentityKey) {
    if (key.type !== 'Ed25519' || key.raw.length !== 64) {
      throw new TypeError('an authorship signer needs an Ed25519 identity key')
    }
    // PKCS #8 for an Ed25519 seed: a fixed prefix, then the 32 bytes.
    const der = Buffer.concat([
      Buffer.from('302e020100300506032b657004220420', 'hex'),
      key.raw.subarray(0, 32),
    ])
    this.key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  }

  sign(facet: string, change: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ facet, change, resolve, reject })
      if (this.waiting.length >= MAX_LEAVES) this.flush()
      // At the end of this turn of the event loop: the edits of a bulk change, each made
      // in its own I/O callback, share a signature.
      else if (this.waiting.length === 1) setImmediate(() => this.flush())
    })
  }

  /** The changes with their proofs, in order. Throws on bytes that are not a change chunk. */
  signAll(changes: readonly UnsignedChange[]): Uint8Array[] {
    const signed: Uint8Array[] = []
    for (let start = 0; start < changes.length; start += MAX_LEAVES) {
      signed.push(...this.signTree(changes.slice(start, start + MAX_LEAVES)))
    }
    return signed
  }

  private flush(): void {
    const batch = this.waiting
    this.waiting = []
    if (batch.length === 0) return
    let signed: Uint8Array[]
    try {
      signed = this.signTree(batch)
    } catch (error) {
      for (const item of batch) item.reject(error)
      return
    }
    batch.forEach((item, index) => item.resolve(signed[index]!))
  }

  private signTree(changes: readonly UnsignedChange[]): Uint8Array[] {
    const places = changes.map(({ change }) => locateMessage(change))
    const leaves = changes.map(({ facet, change }, index) => leafOf(facet, places[index]!, change))
    const depth = Math.max(0, Math.ceil(Math.log2(leaves.length)))
    const levels = treeLevels(leaves, depth)
    const root = levels[depth]![0]!
    const signature = sign(null, statement(depth, root), this.key)
    return changes.map(({ change }, index) => {
      const proof = Buffer.alloc(2 + SIGNATURE_BYTES + depth * NODE_BYTES)
      proof[0] = depth
      proof[1] = index
      signature.copy(proof, 2)
      for (let level = 0, at = index; level < depth; level++, at >>= 1) {
        levels[level]![at ^ 1]!.copy(proof, 2 + SIGNATURE_BYTES + level * NODE_BYTES)
      }
      return spliceMessage(change, places[index]!, PROOF_PREFIX + proof.toString('base64url'))
    })
  }
}

/**
 * Whether `change` (a change chunk of `facet`) carries a proof that `author` signed it.
 * False for no proof, a proof that doesn't verify, and an author that is no Ed25519 peer id.
 */
export function provesAuthor(facet: string, change: Uint8Array, author: string): boolean {
  const key = `${author} ${facet} ${hash('sha256', change, 'base64')}`
  let proven = proofs.get(key)
  if (proven === undefined) {
    proven = checkProof(facet, change, author)
    // The oldest answer makes room (a Map iterates in insertion order).
    if (proofs.size >= REMEMBERED_PROOFS) proofs.delete(proofs.keys().next().value!)
    proofs.set(key, proven)
  }
  return proven
}

const REMEMBERED_PROOFS = 4096
const proofs = new Map<string, boolean>()
const publicKeys = new Map<string, KeyObject | null>()

function checkProof(facet: string, change: Uint8Array, author: string): boolean {
  let where: MessagePlace
  try {
    where = locateMessage(change)
  } catch {
    return false
  }
  const message = Buffer.from(change.subarray(where.start, where.end)).toString('utf8')
  if (!message.startsWith(PROOF_PREFIX)) return false
  const encoded = message.slice(PROOF_PREFIX.length)
  const proof = Buffer.from(encoded, 'base64url')
  // Only the one encoding the signer writes: Node's decoder skips characters it doesn't
  // know, which would let a peer make twins of a signed change that still verify.
  if (proof.toString('base64url') !== encoded) return false
  const depth = proof[0] ?? -1
  if (depth < 0 || depth > MAX_DEPTH || proof.length !== 2 + SIGNATURE_BYTES + depth * NODE_BYTES) {
    return false
  }
  const index = proof[1]!
  if (index >= 1 << depth) return false
  let node = leafOf(facet, where, change)
  for (let level = 0; level < depth; level++) {
    const sibling = proof.subarray(
      2 + SIGNATURE_BYTES + level * NODE_BYTES,
      2 + SIGNATURE_BYTES + (level + 1) * NODE_BYTES,
    )
    node = (index >> level) & 1 ? parent(sibling, node) : parent(node, sibling)
  }
  const key = publicKeyOf(author)
  if (key === null) return false
  return verify(null, statement(depth, node), key, proof.subarray(2, 2 + SIGNATURE_BYTES))
}

function publicKeyOf(author: string): KeyObject | null {
  let key = publicKeys.get(author)
  if (key === undefined) {
    key = null
    try {
      const peer = peerIdFromString(author)
      if (peer.type === 'Ed25519') {
        // SPKI for an Ed25519 public key: a fixed prefix, then the 32 bytes.
        const der = Buffer.concat([
          Buffer.from('302a300506032b6570032100', 'hex'),
          peer.publicKey.raw,
        ])
        key = createPublicKey({ key: der, format: 'der', type: 'spki' })
      }
    } catch {
      // Not a peer id: no key, so nothing it claims is proven.
    }
    if (publicKeys.size >= REMEMBERED_PROOFS) publicKeys.delete(publicKeys.keys().next().value!)
    publicKeys.set(author, key)
  }
  return key
}

/** What the signature covers: the domain, the tree's depth and its root. */
function statement(depth: number, root: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${DOMAIN}\n`), Buffer.from([depth]), root])
}

/** The leaf of a change: its bytes with no message (type byte on), bound to its facet. */
function leafOf(facet: string, where: MessagePlace, change: Uint8Array): Buffer {
  const unsigned = where.end > where.start ? spliceMessage(change, where, '') : change
  // One buffer, one hash: a leaf is made per change signed.
  const facetBytes = Buffer.byteLength(facet)
  const input = Buffer.allocUnsafe(
    LEAF_PREFIX.length + facetBytes + 1 + unsigned.length - CHECKSUM_END,
  )
  LEAF_PREFIX.copy(input, 0)
  input.write(facet, LEAF_PREFIX.length)
  input[LEAF_PREFIX.length + facetBytes] = 0
  input.set(unsigned.subarray(CHECKSUM_END), LEAF_PREFIX.length + facetBytes + 1)
  return node16(input)
}

const LEAF_PREFIX = Buffer.from(`\0${DOMAIN}\0`)

function parent(left: Uint8Array, right: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + 2 * NODE_BYTES)
  input[0] = 1
  input.set(left, 1)
  input.set(right, 1 + NODE_BYTES)
  return node16(input)
}

const PADDING = node16(Buffer.from([2]))

function node16(bytes: Uint8Array): Buffer {
  return hash('sha256', bytes, 'buffer').subarray(0, NODE_BYTES)
}

/** Each level of the tree over `leaves`, padded to 2^depth; the last holds the root. */
function treeLevels(leaves: Buffer[], depth: number): Buffer[][] {
  const levels = [[...leaves]]
  while (levels[0]!.length < 1 << depth) levels[0]!.push(PADDING)
  for (let level = 0; level < depth; level++) {
    const below = levels[level]!
    const above: Buffer[] = []
    for (let i = 0; i < below.length; i += 2) above.push(parent(below[i]!, below[i + 1]!))
    levels.push(above)
  }
  return levels
}

// The change chunk: magic (4 bytes), checksum (4), type (1), the body's length (LEB128),
// then the body: dependencies, actor, sequence number, start op, time, message, and the
// rest. The message is a LEB128 length and UTF-8 bytes; length 0 is no message.
const MAGIC = [0x85, 0x6f, 0x4a, 0x83]
const CHECKSUM_END = 8
const CHANGE_CHUNK = 1

interface MessagePlace {
  /** Where the body starts. */
  body: number
  /** Where the message's length is, and where its bytes start and end. */
  length: number
  start: number
  end: number
}

/** Where the message is in a change chunk; throws (NotReadable) on anything else. */
function locateMessage(chunk: Uint8Array): MessagePlace {
  if (MAGIC.some((byte, i) => chunk[i] !== byte) || chunk[CHECKSUM_END] !== CHANGE_CHUNK) {
    throw new NotReadable()
  }
  const cursor = new Cursor(chunk, CHECKSUM_END + 1)
  const bodyLength = cursor.uleb()
  const body = cursor.offset
  if (body + bodyLength !== chunk.length) throw new NotReadable()
  cursor.skip(cursor.uleb() * 32) // dependencies
  cursor.skip(cursor.uleb()) // actor
  cursor.uleb() // sequence number
  cursor.uleb() // start op
  cursor.sleb() // time
  const length = cursor.offset
  const size = cursor.uleb()
  cursor.take(size)
  return { body, length, start: cursor.offset - size, end: cursor.offset }
}

/** The change with `message` in place of its own (a new checksum; no message for ''). */
export function withMessage(chunk: Uint8Array, message: string): Uint8Array {
  return spliceMessage(chunk, locateMessage(chunk), message)
}

function spliceMessage(chunk: Uint8Array, where: MessagePlace, message: string): Uint8Array {
  const messageBytes = Buffer.byteLength(message)
  const messageLength = lebBytes(messageBytes)
  const bodyLength =
    where.length - where.body + messageLength.length + messageBytes + chunk.length - where.end
  const bodyLengthBytes = lebBytes(bodyLength)
  // Written in place: magic, checksum (below), type, the body's length, the body.
  const out = Buffer.allocUnsafe(CHECKSUM_END + 1 + bodyLengthBytes.length + bodyLength)
  out.set(MAGIC, 0)
  out[CHECKSUM_END] = CHANGE_CHUNK
  let at = CHECKSUM_END + 1
  out.set(bodyLengthBytes, at)
  at += bodyLengthBytes.length
  out.set(chunk.subarray(where.body, where.length), at)
  at += where.length - where.body
  out.set(messageLength, at)
  at += messageLength.length
  at += out.write(message, at)
  out.set(chunk.subarray(where.end), at)
  hash('sha256', out.subarray(CHECKSUM_END), 'buffer').copy(out, 4, 0, 4)
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

const lebWriter = new ByteWriter()

/** `value` as unsigned LEB128, in bytes of its own. */
function lebBytes(value: number): Uint8Array {
  lebWriter.reset()
  lebWriter.uleb(value)
  return lebWriter.written().slice()
}
