import { describe, expect, it } from 'vitest'
import type { FacetId, InstanceId } from '../../src/model/index.ts'
import { MemoryStorage } from '../../src/store/index.ts'
import { FeedFollower } from '../../src/store/object-store/feed-follower.ts'
import { openStore } from '../helpers/stores.ts'

const settle = (ms = 30) => new Promise((resolve) => setTimeout(resolve, ms))

/** Whether the promise has settled within `ms`. */
async function settledWithin(promise: Promise<unknown>, ms = 30): Promise<boolean> {
  let done = false
  void promise.then(() => (done = true))
  await settle(ms)
  return done
}

describe('FeedFollower', () => {
  it('holds applying back while it reads too far behind, and lets go as it moves', async () => {
    let lastSeq = 100
    const follower = new FeedFollower(() => lastSeq, 10, 5_000)
    follower.reads(50)
    const room = follower.room()
    expect(await settledWithin(room)).toBe(false)
    follower.moved(80)
    expect(await settledWithin(room)).toBe(false)
    follower.moved(90)
    expect(await settledWithin(room)).toBe(true)
    lastSeq = 200
    expect(follower.behind).toBe(110)
  })

  it('holds no one back while it rests, or once it has stopped moving', async () => {
    const follower = new FeedFollower(() => 100, 10, 50)
    expect(await settledWithin(follower.room())).toBe(true)
    follower.reads(0)
    const resting = follower.room()
    follower.rests()
    expect(await settledWithin(resting)).toBe(true)
    expect(follower.behind).toBe(0)
    // Reading but stuck: the wait ends after the stall time, not never, and no one waits
    // for it again until it moves.
    follower.reads(0)
    const stuck = follower.room()
    expect(await settledWithin(stuck, 20)).toBe(false)
    expect(await settledWithin(stuck, 80)).toBe(true)
    expect(await settledWithin(follower.room(), 10)).toBe(true)
    follower.moved(1)
    expect(await settledWithin(follower.room(), 10)).toBe(false)
  })

  it('holds no one back longer than its longest wait, however it moves', async () => {
    const follower = new FeedFollower(() => 1_000, 10, 50, 200)
    follower.reads(0)
    const room = follower.room()
    let position = 0
    const moving = setInterval(() => follower.moved(++position), 20)
    expect(await settledWithin(room, 120)).toBe(false)
    expect(await settledWithin(room, 200)).toBe(true)
    clearInterval(moving)
  })
})

describe('a store with a follower', () => {
  it("applies a peer's documents only once the follower is close enough", async () => {
    const a = await openStore(new MemoryStorage(), { instanceId: 'a' as InstanceId })
    const b = await openStore(new MemoryStorage(), { instanceId: 'b' as InstanceId })
    const items: [FacetId, Uint8Array][] = []
    for (let i = 0; i < 3; i++) {
      const made = await a.create({
        type: 'person',
        fields: { firstName: `P${i}`, lastName: 'Larsen' },
      })
      const facet = `${made.id}/core` as FacetId
      items.push([facet, (await a.getFacetBytes(facet))!])
    }
    const follower = b.follow(1)
    // One follower per store: asking again gives it, asking for another distance is a mistake.
    expect(b.follow()).toBe(follower)
    expect(() => b.follow(2)).toThrow(/followed already, 1 entries ahead/)
    await b.applyRemoteDocuments(items.slice(0, 2), undefined, 'a' as InstanceId)
    expect(b.lastSeq).toBe(2)
    follower.reads(0)
    const third = b.applyRemoteDocuments(items.slice(2), undefined, 'a' as InstanceId)
    expect(await settledWithin(third)).toBe(false)
    expect(b.lastSeq).toBe(2)
    follower.moved(1)
    await third
    expect(b.lastSeq).toBe(3)
    expect((await b.get(items[2]![0].split('/')[0] as never))?.fields.firstName).toBe('P2')
  })
})
