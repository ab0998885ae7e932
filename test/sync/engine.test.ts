// The engine's session bookkeeping, with channels the test controls.
import { describe, expect, it } from 'vitest'
import type { InstanceId } from '../../src/model/index.ts'
import { MemoryStorage, ObjectStore } from '../../src/store/index.ts'
import { SyncEngine, type SyncChannel } from '../../src/sync/index.ts'
import type { Logger } from '../../src/log.ts'
import { captureLogger } from '../helpers/capture-logger.ts'
import { eventually } from '../helpers/sync-nodes.ts'

/** Two connected in-memory channel ends; `closed` tells whether either end closed. */
function channelPair(
  a: InstanceId,
  b: InstanceId,
): { toA: SyncChannel; toB: SyncChannel; closed: () => boolean } {
  let closed = false
  const queues = { a: [] as Uint8Array[], b: [] as Uint8Array[] }
  const wakers: { a?: () => void; b?: () => void } = {}
  const end = (self: 'a' | 'b', remote: InstanceId): SyncChannel => {
    const other = self === 'a' ? 'b' : 'a'
    return {
      remote,
      send(payload) {
        if (closed) return Promise.reject(new Error('closed'))
        queues[other].push(payload)
        wakers[other]?.()
        return Promise.resolve()
      },
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const next = queues[self].shift()
          if (next !== undefined) yield next
          else if (closed) return
          else await new Promise<void>((resolve) => (wakers[self] = resolve))
        }
      },
      close() {
        closed = true
        wakers.a?.()
        wakers.b?.()
        return Promise.resolve()
      },
      abort() {
        void this.close()
      },
    }
  }
  // The end held by A talks to B, and the other way round.
  return { toB: end('a', b), toA: end('b', a), closed: () => closed }
}

async function engine(
  id: InstanceId,
  dial: (peer: InstanceId) => Promise<SyncChannel>,
  logger?: Logger,
): Promise<SyncEngine> {
  const store = new ObjectStore({ storage: new MemoryStorage(), instanceId: id })
  await store.open()
  return new SyncEngine({
    store,
    links: { connect: dial },
    localId: id,
    ...(logger === undefined ? {} : { logger }),
  })
}

describe('sync engine sessions', () => {
  it('logs each peer connecting and disconnecting at info', async () => {
    const A = 'instance-a' as InstanceId
    const B = 'instance-b' as InstanceId
    const { logger, lines } = captureLogger()
    const pair = channelPair(A, B)
    const a = await engine(A, () => Promise.resolve(pair.toB), logger)
    const b = await engine(B, () => new Promise(() => {}))
    b.accept(pair.toA)
    a.connect(B)
    await eventually(() => lines.some((line) => line.msg === 'peer connected'))
    await pair.toB.close()
    await eventually(() => lines.some((line) => line.msg === 'peer disconnected'))
    const seen = lines.filter((line) => /^peer (dis)?connected$/.test(String(line.msg)))
    expect(seen.map((line) => [line.msg, line.level, line.peer])).toEqual([
      ['peer connected', 30, B],
      ['peer disconnected', 30, B],
    ])
    a.stop()
    b.stop()
  })

  it('regression: when both sides dial at once, both keep the same channel', async () => {
    const A = 'instance-a' as InstanceId
    const B = 'instance-b' as InstanceId
    const dialedByA = channelPair(A, B) // A's dial: A holds toB, B receives toA
    const dialedByB = channelPair(A, B) // B's dial: B holds toA, A receives toB
    let resolveA!: (channel: SyncChannel) => void
    let resolveB!: (channel: SyncChannel) => void
    const a = await engine(A, () => new Promise((resolve) => (resolveA = resolve)))
    const b = await engine(B, () => new Promise((resolve) => (resolveB = resolve)))
    a.connect(B)
    b.connect(A)
    // The symmetric race: each side first accepts the other's dial, then its own resolves.
    a.accept(dialedByB.toB)
    b.accept(dialedByA.toA)
    resolveA(dialedByA.toB)
    resolveB(dialedByB.toA)
    await new Promise((resolve) => setTimeout(resolve, 50))
    // A's id is smaller: both keep A's dial; B's dial is the one closed.
    expect(dialedByA.closed()).toBe(false)
    expect(dialedByB.closed()).toBe(true)
    expect(a.session(B)).toBeDefined()
    expect(b.session(A)).toBeDefined()
    a.stop()
    b.stop()
  })

  it('pause ends the session, refuses the peer and dials nothing until connect resumes it', async () => {
    const A = 'instance-a' as InstanceId
    const B = 'instance-b' as InstanceId
    const first = channelPair(A, B)
    let dials = 0
    const a = await engine(A, () => {
      dials++
      return new Promise(() => {})
    })
    a.accept(first.toB)
    await eventually(() => a.state(B).connected)
    a.pause(B)
    expect(a.state(B).connected).toBe(false)
    expect(first.closed()).toBe(true)
    // A session the peer opens while paused is closed at once.
    const second = channelPair(A, B)
    a.accept(second.toB)
    expect(second.closed()).toBe(true)
    expect(a.state(B).connected).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(dials).toBe(0)
    a.connect(B)
    expect(dials).toBe(1)
    const third = channelPair(A, B)
    a.accept(third.toB)
    expect(a.state(B).connected).toBe(true)
    a.stop()
  })

  it('restart ends the open session and dials the peer again', async () => {
    const A = 'instance-a' as InstanceId
    const B = 'instance-b' as InstanceId
    const channels = [channelPair(A, B), channelPair(A, B)]
    let dials = 0
    const a = await engine(A, () => Promise.resolve(channels[dials++]!.toB))
    a.connect(B)
    await eventually(() => a.state(B).connected)
    a.restart(B)
    expect(channels[0]!.closed()).toBe(true)
    await eventually(() => dials === 2 && a.state(B).connected, 3000)
    expect(a.session(B)).toBeDefined()
    a.stop()
  })

  it("counts nothing pending out for a peer's own changes received from it", async () => {
    const A = 'instance-a' as InstanceId
    const B = 'instance-b' as InstanceId
    const stores = await Promise.all(
      [A, B].map(async (instanceId) => {
        const store = new ObjectStore({ storage: new MemoryStorage(), instanceId })
        await store.open()
        return store
      }),
    )
    const [storeA, storeB] = stores as [ObjectStore, ObjectStore]
    const link = channelPair(A, B)
    const a = new SyncEngine({
      store: storeA,
      links: { connect: () => Promise.resolve(link.toB) },
      localId: A,
    })
    const b = new SyncEngine({
      store: storeB,
      links: { connect: () => new Promise(() => {}) },
      localId: B,
    })
    a.connect(B)
    b.accept(link.toA)
    const person = await storeA.create({
      type: 'person',
      fields: { firstName: 'Ada', lastName: 'Lovelace' },
    })
    await eventually(async () => (await storeB.get(person.id)) !== undefined)
    await eventually(() => a.state(B).pendingOut === 0)
    // B holds one feed entry, A's own change: nothing B still owes A.
    expect(storeB.lastSeq).toBe(1)
    await eventually(() => b.state(A).pendingOut === 0)
    // B's own edit is pending until sent, then not.
    await storeB.update(person.id, { fields: { phone: '+47 1000' } })
    await eventually(async () => (await storeA.get(person.id))?.fields.phone === '+47 1000')
    await eventually(() => b.state(A).pendingOut === 0 && a.state(B).pendingOut === 0)
    a.stop()
    b.stop()
  })
})
