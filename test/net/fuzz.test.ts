// Random and mutated frames fed to the decoder — the frame reader, the opener, and the
// hello parser. None may crash, hang, or yield a payload. FUZZ_FRAMES sets the count
// (100,000 in `npm test`, more with `npm run fuzz`); the seed is printed on failure.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  FrameOpener,
  FrameRefusedError,
  FrameSealer,
  generatePairKey,
} from '../../src/crypto/index.ts'
import { silentLogger } from '../../src/log.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { SealedChannel, streamPair } from '../../src/net/index.ts'
import { FramingError, encodeFrame, readFrames } from '../../src/net/frames.ts'
import { seededRandom } from '../helpers/random.ts'

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 100_000)
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)

function mutate(frame: Uint8Array, random: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(random() * n)
  const copy = frame.slice()
  switch (pick(6)) {
    case 0: // flip one bit
      copy[pick(copy.length)]! ^= 1 << pick(8)
      return copy
    case 1: // overwrite a run of bytes
      for (let i = pick(copy.length), n = pick(16); n > 0 && i < copy.length; i++, n--)
        copy[i] = pick(256)
      return copy
    case 2: // truncate
      return copy.subarray(0, pick(copy.length))
    case 3: // extend with garbage
      return new Uint8Array([...copy, ...randomBytes(1 + pick(32))])
    case 4: // wholly random of a plausible size
      return new Uint8Array(randomBytes(pick(200)))
    default: // splice the head of one frame onto the tail of another position
      return new Uint8Array([
        ...copy.subarray(0, pick(copy.length)),
        ...copy.subarray(pick(copy.length)),
      ])
  }
}

describe(`fuzzing the frame decoder (seed ${SEED})`, () => {
  it(
    `refuses ${FRAMES} random and mutated sealed frames without opening any`,
    () => {
      const random = seededRandom(SEED)
      const key = generatePairKey()
      const session = new Uint8Array(randomBytes(16))
      const sealer = new FrameSealer(key, session, 0)
      const valid = Array.from({ length: 64 }, (_, i) =>
        sealer.seal(new Uint8Array(randomBytes(i * 3))),
      )
      let opened = 0
      for (let i = 0; i < FRAMES; i++) {
        const opener = new FrameOpener([key], session, 0)
        const original = valid[i % valid.length]!
        const input = mutate(original, random)
        // A mutation that happened to change nothing is not a fuzz case: try again.
        if (Buffer.from(input).equals(Buffer.from(original))) {
          i--
          continue
        }
        try {
          opener.open(input)
          opened++
        } catch (error) {
          if (!(error instanceof FrameRefusedError))
            throw new Error(`seed ${SEED}, frame ${i}: ${String(error)}`)
        }
      }
      // Every valid frame but the first is out of order for a fresh opener; mutations
      // never produce a frame that opens, short of a 2^-128 forgery.
      expect(opened, `seed ${SEED}`).toBe(0)
      // ≈ 15 µs a frame here; `npm run fuzz` feeds millions.
    },
    Math.max(20_000, FRAMES / 20),
  )

  it('splits random byte streams into frames or refuses them, never more than the limit', async () => {
    const random = seededRandom(SEED + 1)
    for (let run = 0; run < 2_000; run++) {
      const bytes = new Uint8Array(randomBytes(Math.floor(random() * 300)))
      // Keep lengths small sometimes, so that whole frames come out too.
      if (bytes.length > 4 && random() < 0.5) bytes.set([0, 0, 0, Math.floor(random() * 40)], 0)
      const chunks: Uint8Array[] = []
      for (let offset = 0; offset < bytes.length;) {
        const size = 1 + Math.floor(random() * 50)
        chunks.push(bytes.subarray(offset, offset + size))
        offset += size
      }
      try {
        for await (const frame of readFrames(toAsync(chunks), 64)) {
          expect(frame.length).toBeLessThanOrEqual(64)
        }
      } catch (error) {
        expect(error, `seed ${SEED}, run ${run}`).toBeInstanceOf(FramingError)
      }
    }
  })

  it('refuses random hellos at the listener', async () => {
    const random = seededRandom(SEED + 2)
    const key = generatePairKey()
    for (let run = 0; run < 300; run++) {
      const [attacker, listener] = streamPair()
      const opening = SealedChannel.open({
        stream: listener,
        role: 'listener',
        local: 'b' as InstanceId,
        remote: 'a' as InstanceId,
        keys: { current: key },
        saveKeys: () => Promise.resolve(),
        logger: silentLogger,
      })
      await attacker.send(encodeFrame(new Uint8Array(randomBytes(Math.floor(random() * 120)))))
      await expect(opening, `seed ${SEED}, run ${run}`).rejects.toMatchObject({
        code: 'FRAME_REFUSED',
      })
    }
  })
})

async function* toAsync(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield await Promise.resolve(chunk)
}
