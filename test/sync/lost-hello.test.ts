// A redial whose hellos are both lost (a frame dropped each way under the sealed channel):
// each side waits for the other's hello as long as its links were told, gives up, and
// the engine dials again. With the default wait (10 s) the object below would take that
// long to cross.
import { describe, expect, it } from 'vitest'
import type { Transport } from '../../src/net/index.ts'
import { Faults, faultyTransport } from '../helpers/faulty-transport.ts'
import { eventually, pairNodes, syncNode } from '../helpers/sync-nodes.ts'

describe('a lost hello', () => {
  it('is given up on after the wait the links were given, and the redial syncs', async () => {
    const faults = new Faults()
    const options = {
      helloTimeoutMs: 300,
      wrapTransport: (transport: Transport) => faultyTransport(transport, faults),
    }
    const a = await syncNode('a', undefined, options)
    const b = await syncNode('b', undefined, options)
    try {
      await pairNodes(a, b)
      const { id } = await a.store.create({
        type: 'person',
        fields: { firstName: 'Ada', lastName: 'Lovelace' },
      })
      // The first frame each way is the hello of the first session.
      faults.inject(a.id, b.id, 'drop')
      faults.inject(b.id, a.id, 'drop')
      const started = Date.now()
      a.engine.connect(b.id)
      await eventually(async () => (await b.store.get(id)) !== undefined, 5_000)
      expect(faults.applied.drop).toBe(2) // both hellos were lost, and the redial went through
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })
})
