import { createIdentity, createLibp2pTransport, MemoryNetwork } from '../../src/net/index.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { transportConformance } from './transport-conformance.ts'

const network = new MemoryNetwork()
let counter = 0
transportConformance('memory', {
  async make(admitted) {
    const transport = network.transport(`memory-${++counter}`, (remote: InstanceId) =>
      admitted.has(remote),
    )
    await transport.start()
    return transport
  },
})

transportConformance('libp2p over TCP', {
  async make(admitted) {
    const identity = await createIdentity()
    const transport = await createLibp2pTransport({
      privateKey: identity.privateKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      gate: (remote) => admitted.has(remote),
    })
    await transport.start()
    return transport
  },
})
