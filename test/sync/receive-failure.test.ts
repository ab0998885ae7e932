// The receiving side reads the next batch while one is applied (PeerSession.receiveAll):
// a batch that fails to apply must still end the session at once, as when each batch
// was applied before the next was read, so that the engine dials again and the batch is
// sent again. Regression: a failed last batch left the session open (the peer's ticks
// kept it alive) with no credit sent back and its live changes held.
import { describe, expect, it } from 'vitest'
import { MemoryStorage, type StorageOp } from '../../src/store/index.ts'
import {
  createPeople,
  eventually,
  pairNodes,
  sameObjects,
  syncNode,
} from '../helpers/sync-nodes.ts'

/** Storage whose writes fail while `failing` is set (a full disk). */
class FailingStorage extends MemoryStorage {
  failing = false
  failed = 0

  override async write(ops: readonly StorageOp[]): Promise<void> {
    if (this.failing) {
      this.failed++
      throw new Error('no space left on device')
    }
    return super.write(ops)
  }
}

describe('a batch that fails to apply', () => {
  it('ends the session; the next one receives it', async () => {
    // Ticks from A every 200 ms: a session nothing else ends stays open on them.
    const a = await syncNode('a', undefined, { heartbeatMs: 200 })
    const storage = new FailingStorage()
    const b = await syncNode('b', undefined, { storage, heartbeatMs: 200 })
    await pairNodes(a, b)
    const people = await createPeople(a.store, 20, 'p')
    a.engine.connect(b.id)
    await eventually(async () => await sameObjects([a.store, b.store], people), 10_000)
    // Caught up and live: a live batch that fails is the last message but ticks.
    storage.failing = true
    await a.store.update(people[0]!, { fields: { title: 'sent live' } })
    await eventually(() => storage.failed > 0, 5000)
    storage.failing = false
    // The session ended and the next one brought the edit (a session held open by the
    // peer's ticks would never have).
    await eventually(
      async () => (await b.store.get(people[0]!))?.fields.title === 'sent live',
      10_000,
    )
    expect(storage.failed).toBeGreaterThan(0)
    await Promise.all([a.stop(), b.stop()])
  })
})
