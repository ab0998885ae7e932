import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { generatePairKey, pairKeyId, type PairKey } from '../../src/crypto/index.ts'
import { silentLogger } from '../../src/log.ts'
import type { InstanceId } from '../../src/model/index.ts'
import {
  SealedChannel,
  streamPair,
  type ByteStream,
  type ChannelKeys,
  type RefusalReason,
} from '../../src/net/index.ts'
import type { SealedChannelOptions } from '../../src/net/sealed-channel.ts'
import { sessionId } from '../../src/net/channel-hello.ts'
import { encodeFrame, readFrames } from '../../src/net/frames.ts'
import { captureLogger } from '../helpers/capture-logger.ts'

const A = 'instance-a' as InstanceId
const B = 'instance-b' as InstanceId

type Tamper = (frame: Uint8Array, index: number, direction: 'a->b' | 'b->a') => Uint8Array[]

/** Forwards frames between two streams, letting `tamper` change, drop, repeat or inject them. */
function relay(
  from: ByteStream,
  to: ByteStream,
  direction: 'a->b' | 'b->a',
  tamper: Tamper,
  back?: ByteStream,
) {
  void (async () => {
    let index = 0
    try {
      for await (const frame of readFrames(from)) {
        for (const out of tamper(frame, index++, direction)) {
          await (out === REFLECT ? back! : to).send(encodeFrame(out === REFLECT ? frame : out))
        }
      }
      await to.close()
    } catch (error) {
      to.abort(error as Error)
    }
  })()
}
const REFLECT = new Uint8Array(0)

/** What a side sets when both channels are opened directly (openBoth). */
type Side = Pick<SealedChannelOptions, 'stream' | 'keys'> &
  Partial<
    Pick<SealedChannelOptions, 'logger' | 'saveKeys' | 'onRefused' | 'versions' | 'admitRotation'>
  >

/** A dialing A and a listening B over the given streams; keys saved nowhere, logs silent. */
function openBoth(a: Side, b: Side): Promise<[SealedChannel, SealedChannel]> {
  const defaults = { logger: silentLogger, saveKeys: () => Promise.resolve() }
  return Promise.all([
    SealedChannel.open({ role: 'dialer', local: A, remote: B, ...defaults, ...a }),
    SealedChannel.open({ role: 'listener', local: B, remote: A, ...defaults, ...b }),
  ])
}

interface Pair {
  a: SealedChannel
  b: SealedChannel
  refusedAtA: RefusalReason[]
  refusedAtB: RefusalReason[]
  keysA: ChannelKeys[]
  keysB: ChannelKeys[]
}

async function connect(
  keysA: ChannelKeys,
  keysB: ChannelKeys,
  tamper: Tamper = (f) => [f],
  atB: Pick<Side, 'admitRotation'> = {},
): Promise<Pair> {
  const [aEnd, mA] = streamPair()
  const [mB, bEnd] = streamPair()
  relay(mA, mB, 'a->b', tamper, mA)
  relay(mB, mA, 'b->a', tamper, mB)
  const refusedAtA: RefusalReason[] = []
  const refusedAtB: RefusalReason[] = []
  const savedA: ChannelKeys[] = []
  const savedB: ChannelKeys[] = []
  const [a, b] = await openBoth(
    {
      stream: aEnd,
      keys: keysA,
      saveKeys: (k) => (savedA.push(k), Promise.resolve()),
      onRefused: (r) => refusedAtA.push(r),
    },
    {
      stream: bEnd,
      keys: keysB,
      saveKeys: (k) => (savedB.push(k), Promise.resolve()),
      onRefused: (r) => refusedAtB.push(r),
      ...atB,
    },
  )
  return { a, b, refusedAtA, refusedAtB, keysA: savedA, keysB: savedB }
}

async function drain(channel: SealedChannel): Promise<{ payloads: string[]; error: unknown }> {
  const payloads: string[] = []
  try {
    for await (const payload of channel) payloads.push(new TextDecoder().decode(payload))
  } catch (error) {
    return { payloads, error }
  }
  return { payloads, error: undefined }
}

const text = (value: string) => new TextEncoder().encode(value)

describe('sealed channels', () => {
  it('carry payloads both ways, in order', async () => {
    const key = generatePairKey()
    const { a, b } = await connect({ current: key }, { current: key })
    const atB = drain(b)
    const atA = drain(a)
    for (let i = 0; i < 100; i++) await a.send(text(`a${i}`))
    await b.send(text('from b'))
    await a.close()
    await b.close()
    expect((await atB).payloads).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`))
    expect((await atA).payloads).toEqual(['from b'])
  })

  // Frame 0 each way is the hello; frames from 1 on are sealed.
  // Frame 1 carries m0 and frame 2 m1; the attack hits frame 2.
  const attacks: [string, Tamper, RefusalReason, string[]][] = [
    ['a flipped bit', (f, i) => (i === 2 ? [flip(f)] : [f]), 'does-not-open', ['m0']],
    [
      'a truncated frame',
      (f, i) => (i === 2 ? [f.subarray(0, f.length - 1)] : [f]),
      'does-not-open',
      ['m0'],
    ],
    [
      'a frame cut below the minimum size',
      (f, i) => (i === 2 ? [f.subarray(0, 10)] : [f]),
      'too-short',
      ['m0'],
    ],
    ['a replayed frame', (f, i) => (i === 2 ? [f, f] : [f]), 'replayed-or-reordered', ['m0', 'm1']],
    ['reordered frames', reorder(), 'replayed-or-reordered', ['m0']],
  ]
  for (const [name, tamper, reason, delivered] of attacks) {
    it(`refuse ${name}, close the stream, and deliver nothing from it on`, async () => {
      const key = generatePairKey()
      const { a, b, refusedAtB } = await connect({ current: key }, { current: key }, (f, i, d) =>
        d === 'a->b' ? tamper(f, i, d) : [f],
      )
      const atB = drain(b)
      for (let i = 0; i < 5; i++) await a.send(text(`m${i}`)).catch(() => {})
      const { payloads, error } = await atB
      expect(payloads).toEqual(delivered)
      expect((error as Error).message).toContain(reason)
      expect(refusedAtB).toEqual([reason])
    })
  }

  it('refuse a frame reflected back to its sender', async () => {
    const key = generatePairKey()
    const { a, refusedAtA } = await connect({ current: key }, { current: key }, (f, i, d) =>
      d === 'a->b' && i === 1 ? [f, REFLECT] : [f],
    )
    const atA = drain(a)
    await a.send(text('hello'))
    expect((await atA).payloads).toEqual([])
    expect(refusedAtA).toEqual(['wrong-direction'])
  })

  it('refuse a frame recorded in another session', async () => {
    const key = generatePairKey()
    let recorded: Uint8Array | undefined
    const first = await connect({ current: key }, { current: key }, (f, i, d) => {
      if (d === 'a->b' && i === 1) recorded = f
      return [f]
    })
    const atB1 = drain(first.b)
    await first.a.send(text('first session'))
    await first.a.close()
    expect((await atB1).payloads).toEqual(['first session'])
    const second = await connect({ current: key }, { current: key }, (f, i, d) =>
      d === 'a->b' && i === 1 ? [recorded!] : [f],
    )
    const atB2 = drain(second.b)
    await second.a.send(text('second session'))
    expect((await atB2).payloads).toEqual([])
    expect(second.refusedAtB).toEqual(['wrong-session'])
  })

  it('refuse to open with a peer that holds none of our keys', async () => {
    const attempt = connect({ current: generatePairKey() }, { current: generatePairKey() })
    await expect(attempt).rejects.toMatchObject({
      code: 'FRAME_REFUSED',
      details: { reason: 'no-common-key' },
    })
  })

  it('speak the highest sync protocol version both offer', async () => {
    const key = generatePairKey()
    const [aEnd, bEnd] = streamPair()
    const [a, b] = await openBoth(
      { stream: aEnd, keys: { current: key }, versions: { min: 1, max: 3 } },
      { stream: bEnd, keys: { current: key }, versions: { min: 2, max: 2 } },
    )
    expect([a.protocolVersion, b.protocolVersion]).toEqual([2, 2])
    await Promise.all([a.close(), b.close()])
  })

  it('refuse, on both sides, a peer with no sync protocol version in common, each naming who must upgrade', async () => {
    const key = generatePairKey()
    const [aEnd, bEnd] = streamPair()
    const refused: RefusalReason[] = []
    const side = (role: 'dialer' | 'listener', stream: ByteStream, min: number, max: number) =>
      SealedChannel.open({
        role,
        local: role === 'dialer' ? A : B,
        remote: role === 'dialer' ? B : A,
        stream,
        keys: { current: key },
        versions: { min, max },
        logger: silentLogger,
        saveKeys: () => Promise.resolve(),
        onRefused: (reason) => refused.push(reason),
      })
    const [atA, atB] = await Promise.allSettled([
      side('dialer', aEnd, 2, 3),
      side('listener', bEnd, 1, 1),
    ])
    expect(atA).toMatchObject({
      status: 'rejected',
      reason: {
        code: 'PEER_INCOMPATIBLE',
        message: `${B}: the peer speaks sync protocol version 1 and this objectsync versions 2–3: the peer must upgrade`,
      },
    })
    expect(atB).toMatchObject({
      status: 'rejected',
      reason: {
        code: 'PEER_INCOMPATIBLE',
        message: `${A}: the peer speaks sync protocol versions 2–3 and this objectsync version 1: upgrade this instance`,
      },
    })
    expect(refused).toEqual(['incompatible-version', 'incompatible-version'])
  })

  it('derive the session id as every version before did (a known answer)', () => {
    // Both sides derive it apart: a version that derived it otherwise could open no
    // session with an older one (every frame names the session).
    const id = sessionId(new Uint8Array(16).fill(1), new Uint8Array(16).fill(2), A, B)
    expect(Buffer.from(id).toString('hex')).toBe('894cb2168bf0113e7a5a2b36c80a2f86')
  })

  it('give up on a hello that never comes after the wait set, refusing it as a bad hello', async () => {
    // A hello lost on the way (or a peer that says nothing): the side waiting must not
    // hold its dial longer than it was told, or the redial waits with it.
    const [aEnd] = streamPair()
    const refused: RefusalReason[] = []
    const started = Date.now()
    const opened = SealedChannel.open({
      role: 'dialer',
      local: A,
      remote: B,
      stream: aEnd,
      keys: { current: generatePairKey() },
      helloTimeoutMs: 200,
      logger: silentLogger,
      saveKeys: () => Promise.resolve(),
      onRefused: (reason) => refused.push(reason),
    })
    await expect(opened).rejects.toMatchObject({
      code: 'FRAME_REFUSED',
      details: { reason: 'bad-hello' },
    })
    const waited = Date.now() - started
    expect(waited).toBeGreaterThanOrEqual(190) // timers may fire a little early
    expect(waited).toBeLessThan(5_000)
    expect(refused).toEqual(['bad-hello'])
  })

  it('take a hello without versions (from before they were sent) as version 1', async () => {
    const key = generatePairKey()
    const [oldEnd, bEnd] = streamPair()
    const opened = SealedChannel.open({
      role: 'listener',
      local: B,
      remote: A,
      stream: bEnd,
      keys: { current: key },
      versions: { min: 1, max: 2 },
      logger: silentLogger,
      saveKeys: () => Promise.resolve(),
    })
    // What an objectsync before versions sent: its nonce and key ids, nothing else.
    const hello = { v: 1, n: new Uint8Array(16).fill(7), k: [pairKeyId(key)] }
    await oldEnd.send(encodeFrame(encode(hello)))
    expect((await opened).protocolVersion).toBe(1)
  })

  it('rotate the key: both save the new key, and frames under the old one are refused after', async () => {
    const old = generatePairKey()
    let oldKeyFrame: Uint8Array | undefined
    const { a, b, keysA, keysB } = await connect({ current: old }, { current: old }, (f, i, d) => {
      if (d === 'a->b' && i === 1) oldKeyFrame = f
      return [f]
    })
    const atB = drain(b)
    await a.send(text('under the old key'))
    await a.rotateKey()
    await a.send(text('under the new key'))
    const fresh = keysA.at(-1)!.current
    expect(keysA.at(-1)).toEqual({ current: fresh })
    expect(keysB.at(-1)).toEqual({ current: fresh })
    expect(Buffer.from(fresh).equals(Buffer.from(old))).toBe(false)
    await a.close()
    expect((await atB).payloads).toEqual(['under the old key', 'under the new key'])

    // A new session under the new key refuses a frame sealed with the old one.
    const again = await connect({ current: fresh }, { current: fresh }, (f, i, d) =>
      d === 'a->b' && i === 1 ? [oldKeyFrame!] : [f],
    )
    const atB2 = drain(again.b)
    await again.a.send(text('x'))
    expect((await atB2).payloads).toEqual([])
    expect(again.refusedAtB).toEqual(['does-not-open'])
    // And a peer still holding only the old key is refused at the hello.
    await expect(connect({ current: old }, { current: fresh })).rejects.toMatchObject({
      code: 'FRAME_REFUSED',
    })
  })

  it('refuse a key rotation past what the peer may do: the channel closes and the key file is left alone', async () => {
    let asked = 0
    const key = generatePairKey()
    const { a, b, keysB, refusedAtB } = await connect(
      { current: key },
      { current: key },
      undefined,
      {
        admitRotation: () => ++asked <= 2,
      },
    )
    const atB = drain(b)
    await a.rotateKey()
    await a.rotateKey()
    expect(keysB).toHaveLength(2)
    await expect(a.rotateKey()).rejects.toThrow()
    expect((await atB).error).toMatchObject({ details: { reason: 'too-many-rotations' } })
    expect(refusedAtB).toEqual(['too-many-rotations'])
    expect(keysB).toHaveLength(2)
  })

  it('read ahead of a consumer by bytes, not frames: a peer sending fast can make us hold only a few MiB', async () => {
    const key = generatePairKey()
    const { a, b } = await connect({ current: key }, { current: key })
    const megabyte = new Uint8Array(1 << 20)
    const sent: Promise<void>[] = []
    for (let i = 0; i < 40; i++) sent.push(a.send(megabyte))
    await new Promise((resolve) => setTimeout(resolve, 300))
    // 4 MiB read ahead and the frame read when the limit was reached (64 frames before).
    expect(b.traffic.framesReceived).toBeLessThanOrEqual(6)
    let received = 0
    for await (const payload of b) {
      received += payload.length
      if (received === 40 << 20) break
    }
    await Promise.all(sent)
    expect(b.traffic.framesReceived).toBe(40)
  })

  it('end a rotation whose frame could not be sent without an unhandled rejection', async () => {
    const key = generatePairKey()
    const [aEnd, bEnd] = streamPair()
    let broken = false
    const aStream: ByteStream = {
      [Symbol.asyncIterator]: () => aEnd[Symbol.asyncIterator](),
      send: (bytes) =>
        broken ? Promise.reject(new Error('the stream is gone')) : aEnd.send(bytes),
      close: () => aEnd.close(),
      abort: (reason) => aEnd.abort(reason),
    }
    const [a, b] = await openBoth(
      { stream: aStream, keys: { current: key } },
      { stream: bEnd, keys: { current: key } },
    )
    broken = true
    await expect(a.rotateKey()).rejects.toThrow('the stream is gone')
    // The channel ends after: the rotation it was waiting for fails with no one waiting.
    await b.close()
    await new Promise((resolve) => setTimeout(resolve, 50))
  })

  it('go on when the key file cannot be saved as an old key is dropped (no unhandled rejection)', async () => {
    const old = generatePairKey()
    const fresh = generatePairKey()
    const { logger, lines } = captureLogger()
    const [aEnd, bEnd] = streamPair()
    const [a, b] = await openBoth(
      {
        stream: aEnd,
        keys: { current: fresh, previous: old },
        logger,
        saveKeys: () => Promise.reject(new Error('disk full')),
      },
      { stream: bEnd, keys: { current: fresh } },
    )
    const atB = drain(b)
    await a.send(text('still here'))
    await a.close()
    expect((await atB).payloads).toEqual(['still here'])
    expect(
      lines.some((line) => String(line.msg).includes('could not save the pair key file')),
    ).toBe(true)
  })

  it('finish a rotation cut short by a restart: the next session completes it', async () => {
    const old = generatePairKey()
    const fresh = generatePairKey()
    // A saved the new key (keeping the old) but B never received it.
    const { a, b, keysA, keysB } = await connect(
      { current: fresh, previous: old },
      { current: old },
    )
    const atB = drain(b)
    await a.send(text('after restart'))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(keysB.at(-1)).toEqual({ current: fresh })
    expect(keysA.at(-1)).toEqual({ current: fresh })
    await a.close()
    expect((await atB).payloads).toEqual(['after restart'])
  })
})

function flip(frame: Uint8Array): Uint8Array {
  const copy = frame.slice()
  copy[copy.length - 1]! ^= 1
  return copy
}

function reorder(): Tamper {
  let held: Uint8Array | undefined
  return (f, i) => {
    if (i === 2) {
      held = f
      return []
    }
    if (i === 3) return [f, held!]
    return [f]
  }
}

export type { PairKey }
