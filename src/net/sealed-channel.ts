// A sealed channel: the sync protocol's stream between two paired instances. It opens
// with a short unsealed hello from each side (a fresh nonce and the ids of the keys it
// holds, and the versions of the sync protocol it speaks), from which both derive the
// session id and agree on a key and a version; after that every
// frame is sealed (src/crypto/frame-sealer.ts). A frame that fails any check closes the
// stream with a logged reason, and nothing from it reaches the consumer.
import nacl from 'tweetnacl'
import {
  FrameOpener,
  FrameRefusedError,
  FrameSealer,
  SEAL_OVERHEAD,
  type Direction,
  generatePairKey,
  pairKeyId,
  sameBytes,
  asPairKey,
  type PairKey,
} from '../crypto/index.ts'
import { ObjectSyncError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { InstanceId } from '../model/index.ts'
import type { ByteStream } from './byte-stream.ts'
import {
  HELLO_NONCE_BYTES,
  SYNC_PROTOCOL_VERSIONS,
  commonVersion,
  encodeHello,
  parseHello,
  sessionId,
  type ProtocolVersions,
} from './channel-hello.ts'
import { withDeadline } from './deadline.ts'
import {
  FRAME_HEADER_BYTES,
  FramingError,
  MAX_FRAME_BYTES,
  encodeFrame,
  readFrames,
} from './frames.ts'

export const SYNC_PROTOCOL = '/objectsync/sync/1.0.0'
export { SYNC_PROTOCOL_VERSIONS, type ProtocolVersions }
/** The largest payload `send` takes: a sealed frame stays within MAX_FRAME_BYTES. */
export const MAX_PAYLOAD_BYTES = MAX_FRAME_BYTES - SEAL_OVERHEAD - 1

// Data read ahead of the consumer, in bytes; beyond this the channel stops reading and the
// transport pauses the sender. In bytes, not frames: 64 frames of up to 4 MiB each let one
// peer make us hold 256 MiB a stream. Now at most this and one frame more.
const READ_AHEAD_BYTES = 4 << 20
// What a payload kept costs beyond its bytes: empty frames must count too.
const PAYLOAD_COST = 64
// A peer that connects and says nothing is dropped after this long (by default).
const HELLO_TIMEOUT_MS = 10_000

const enum Kind {
  Data = 0,
  Rotate = 1,
  RotateAck = 2,
}

export interface ChannelKeys {
  current: PairKey
  /** Kept only while a key rotation is not yet acknowledged. */
  previous?: PairKey
}

export type RefusalReason =
  | 'too-large'
  | 'truncated'
  | 'too-short'
  | 'does-not-open'
  | 'wrong-session'
  | 'wrong-direction'
  | 'replayed-or-reordered'
  | 'bad-hello'
  | 'no-common-key'
  | 'bad-control'
  | 'incompatible-version'
  | 'too-many-rotations'

export interface SealedChannelOptions {
  stream: ByteStream
  role: 'dialer' | 'listener'
  local: InstanceId
  remote: InstanceId
  keys: ChannelKeys
  /** Persists the pair's keys; called before a rotation's frames are sent or acknowledged. */
  saveKeys: (keys: ChannelKeys) => Promise<void>
  logger: Logger
  onRefused?: (reason: RefusalReason) => void
  /**
   * Whether the peer may replace the pair key now (each time rewrites the key file): a
   * rotation it refuses closes the channel. Every rotation when absent.
   */
  admitRotation?: () => boolean
  /** The sync protocol versions to offer; SYNC_PROTOCOL_VERSIONS unless a test says. */
  versions?: ProtocolVersions
  /** How long to wait for the peer's hello; HELLO_TIMEOUT_MS unless a test says. */
  helloTimeoutMs?: number
}

/** What went over a channel: sealed frames and their bytes, length prefixes included. */
export interface ChannelTraffic {
  framesSent: number
  bytesSent: number
  framesReceived: number
  bytesReceived: number
}

export class SealedChannel implements AsyncIterable<Uint8Array> {
  readonly remote: InstanceId
  /** The sync protocol version both sides speak, agreed at the hello. */
  readonly protocolVersion: number
  readonly traffic: ChannelTraffic = {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
  }
  private readonly received: Uint8Array[] = []
  private receivedBytes = 0
  private wakeReader: (() => void) | undefined
  private wakePump: (() => void) | undefined
  private ended = false
  private failure: Error | undefined
  private keys: ChannelKeys
  private rotation: { key: PairKey; done: () => void; failed: (error: Error) => void } | undefined
  private sending: Promise<void> = Promise.resolve()
  readonly closed: Promise<void>

  private constructor(
    private readonly options: SealedChannelOptions,
    private readonly sealer: FrameSealer,
    private readonly opener: FrameOpener,
    frames: AsyncGenerator<Uint8Array>,
    keyInUse: PairKey,
    protocolVersion: number,
  ) {
    this.remote = options.remote
    this.protocolVersion = protocolVersion
    this.keys = options.keys
    this.closed = this.pump(frames)
    // A rotation cut short by a restart is finished now: the peer never got the new key.
    if (this.keys.previous !== undefined && sameBytes(keyInUse, this.keys.previous)) {
      void this.startRotation(this.keys.current).catch(() => {})
    } else if (this.keys.previous !== undefined) {
      // Only drops the previous key from the file: if saving fails, it is dropped at the
      // next save, and the channel goes on (a failed save must not end the daemon).
      this.persist({ current: this.keys.current }).catch((error: unknown) => {
        this.options.logger.warn(
          { peer: this.remote, err: error },
          'could not save the pair key file; the previous key stays in it for now',
        )
      })
    }
  }

  /** Runs the hello exchange and returns a channel ready to send and receive. */
  static async open(options: SealedChannelOptions): Promise<SealedChannel> {
    const { stream, role, local, remote, keys } = options
    const frames = readFrames(stream)
    const ownNonce = nacl.randomBytes(HELLO_NONCE_BYTES)
    const ownKeys = keys.previous === undefined ? [keys.current] : [keys.current, keys.previous]
    const ownIds = ownKeys.map(pairKeyId)
    const own = options.versions ?? SYNC_PROTOCOL_VERSIONS
    await stream.send(encodeFrame(encodeHello({ nonce: ownNonce, keyIds: ownIds, versions: own })))
    const first = await withDeadline(
      frames.next(),
      options.helloTimeoutMs ?? HELLO_TIMEOUT_MS,
    ).catch(() => undefined)
    const hello = first === undefined || first.done ? undefined : parseHello(first.value)
    if (hello === undefined)
      throw refuse(options, 'bad-hello', 'the peer did not send a valid hello')
    const protocolVersion = commonVersion(own, hello.versions)
    if (typeof protocolVersion === 'string')
      throw refuse(options, 'incompatible-version', protocolVersion, 'PEER_INCOMPATIBLE')
    const dialerIds = role === 'dialer' ? ownIds : hello.keyIds
    const listenerIds = role === 'dialer' ? hello.keyIds : ownIds
    const chosenId = dialerIds.find((id) => listenerIds.some((other) => sameBytes(id, other)))
    const key = chosenId && ownKeys.find((candidate) => sameBytes(pairKeyId(candidate), chosenId))
    if (key === undefined) {
      throw refuse(
        options,
        'no-common-key',
        'the peer holds none of our pair keys (rotated elsewhere, or a different key file)',
      )
    }
    const [dialer, listener] = role === 'dialer' ? [local, remote] : [remote, local]
    const [dialerNonce, listenerNonce] =
      role === 'dialer' ? [ownNonce, hello.nonce] : [hello.nonce, ownNonce]
    const session = sessionId(dialerNonce, listenerNonce, dialer, listener)
    const outgoing: Direction = role === 'dialer' ? 0 : 1
    const incoming: Direction = role === 'dialer' ? 1 : 0
    return new SealedChannel(
      options,
      new FrameSealer(key, session, outgoing),
      new FrameOpener([key], session, incoming),
      frames,
      key,
      protocolVersion,
    )
  }

  /** Sends one payload; waits while the transport is full. */
  send(payload: Uint8Array): Promise<void> {
    if (payload.length > MAX_PAYLOAD_BYTES) {
      return Promise.reject(
        new TypeError(`a payload has at most ${MAX_PAYLOAD_BYTES} bytes, got ${payload.length}`),
      )
    }
    const body = new Uint8Array(payload.length + 1)
    body[0] = Kind.Data
    body.set(payload, 1)
    return this.sendBody(body)
  }

  /**
   * Replaces the pair key. The new key is saved before it is used, travels sealed under
   * the old one, and the old key is forgotten once the peer acknowledges under the new.
   */
  rotateKey(): Promise<void> {
    return this.startRotation(generatePairKey())
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const payload = this.received.shift()
      if (payload !== undefined) {
        this.receivedBytes -= payload.length + PAYLOAD_COST
        this.wakePump?.()
        yield payload
        continue
      }
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure
        return
      }
      await new Promise<void>((resolve) => (this.wakeReader = resolve))
    }
  }

  async close(): Promise<void> {
    await this.sending.catch(() => {})
    await this.options.stream.close().catch(() => {})
  }

  abort(reason: Error): void {
    this.options.stream.abort(reason)
    this.finish(reason)
  }

  private async startRotation(key: PairKey): Promise<void> {
    if (this.rotation !== undefined)
      throw new ObjectSyncError('PEER_UNREACHABLE', 'a key rotation is already running')
    const previous = this.keys.current === key ? this.keys.previous! : this.keys.current
    await this.persist({ current: key, previous })
    const done = new Promise<void>((resolve, reject) => {
      this.rotation = { key, done: resolve, failed: reject }
    })
    // Handled from the start: if the rotate frame can't be sent, nothing awaits `done`, and
    // the channel's end rejecting it must not be an unhandled rejection (it ends a daemon).
    done.catch(() => {})
    const body = new Uint8Array(1 + key.length)
    body[0] = Kind.Rotate
    body.set(key, 1)
    // Everything after the rotate frame is sealed with the new key; the peer's frames
    // may still come under the old one until it has read ours.
    // The acknowledgement comes under the new key, possibly before send() returns.
    this.opener.useKeys([key, previous])
    await this.sendBody(body, { after: () => this.sealer.useKey(key) })
    await done
  }

  /** Seals and sends in call order; `before`/`after` run around this frame's sealing. */
  private sendBody(
    body: Uint8Array,
    around: { before?: () => void; after?: () => void } = {},
  ): Promise<void> {
    const next = this.sending.then(async () => {
      if (this.ended)
        throw this.failure ?? new ObjectSyncError('PEER_UNREACHABLE', 'the channel is closed')
      around.before?.()
      const sealed = this.sealer.seal(body)
      around.after?.()
      const frame = encodeFrame(sealed)
      this.traffic.framesSent++
      this.traffic.bytesSent += frame.length
      await this.options.stream.send(frame)
    })
    this.sending = next.catch(() => {})
    return next
  }

  private async pump(frames: AsyncGenerator<Uint8Array>): Promise<void> {
    try {
      for await (const frame of frames) {
        const { payload, key } = this.opener.open(frame)
        this.traffic.framesReceived++
        this.traffic.bytesReceived += frame.length + FRAME_HEADER_BYTES
        await this.dispatch(payload, key)
        while (this.receivedBytes >= READ_AHEAD_BYTES && !this.ended) {
          await new Promise<void>((resolve) => (this.wakePump = resolve))
        }
      }
      this.finish()
    } catch (error) {
      const reason = refusalReason(error)
      if (reason !== undefined) {
        this.options.logger.warn({ peer: this.remote, reason }, 'frame refused; closing the stream')
        this.options.onRefused?.(reason)
        const refused = new ObjectSyncError(
          'FRAME_REFUSED',
          `a frame from ${this.remote} was refused: ${reason}`,
          {
            details: { reason },
          },
        )
        this.options.stream.abort(refused)
        this.finish(refused)
      } else {
        this.finish(error as Error)
      }
    }
  }

  private async dispatch(body: Uint8Array, key: PairKey): Promise<void> {
    const kind = body[0]
    if (kind === Kind.Data) {
      this.received.push(body.subarray(1))
      this.receivedBytes += body.length - 1 + PAYLOAD_COST
      this.wakeReader?.()
    } else if (kind === Kind.Rotate && body.length === 1 + 32) {
      if (this.options.admitRotation?.() === false) throw new RotationRefused()
      const next = asPairKey(body.slice(1))
      await this.persist({ current: next })
      this.opener.useKeys([next])
      // The acknowledgement is the first frame under the new key.
      await this.sendBody(Uint8Array.of(Kind.RotateAck), { before: () => this.sealer.useKey(next) })
    } else if (
      kind === Kind.RotateAck &&
      body.length === 1 &&
      this.rotation &&
      sameBytes(key, this.rotation.key)
    ) {
      const { key: next, done } = this.rotation
      this.rotation = undefined
      await this.persist({ current: next })
      this.opener.useKeys([next])
      done()
    } else {
      throw new ControlError()
    }
  }

  private async persist(keys: ChannelKeys): Promise<void> {
    this.keys = keys
    await this.options.saveKeys(keys)
  }

  private finish(error?: Error): void {
    if (this.ended) return
    this.ended = true
    this.failure = error
    this.rotation?.failed(
      error ?? new ObjectSyncError('PEER_UNREACHABLE', 'the channel closed during a key rotation'),
    )
    this.rotation = undefined
    this.wakeReader?.()
    this.wakePump?.()
  }
}

class ControlError extends Error {}
class RotationRefused extends Error {}

function refusalReason(error: unknown): RefusalReason | undefined {
  if (error instanceof FrameRefusedError) return error.reason
  if (error instanceof FramingError) return error.problem
  if (error instanceof ControlError) return 'bad-control'
  if (error instanceof RotationRefused) return 'too-many-rotations'
  return undefined
}

function refuse(
  options: SealedChannelOptions,
  reason: RefusalReason,
  message: string,
  code: 'FRAME_REFUSED' | 'PEER_INCOMPATIBLE' = 'FRAME_REFUSED',
): ObjectSyncError {
  options.logger.warn({ peer: options.remote, reason }, message)
  options.onRefused?.(reason)
  const error = new ObjectSyncError(code, `${options.remote}: ${message}`, {
    details: { reason },
  })
  options.stream.abort(error)
  return error
}
