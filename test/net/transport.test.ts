import { describe, expect, it } from 'vitest'
import { createIdentity, createLibp2pTransport, MemoryNetwork } from '../../src/net/index.ts'
import { dialFailure } from '../../src/net/libp2p-transport.ts'
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

describe('a failed dial', () => {
  const remote = '12D3KooWRVNfHZ9r1ZCe6tq6u4iKDgDXWWbYR7dm7SnqP1YH1Zh7' as InstanceId
  it('says what it means, whatever libp2p rejected with', () => {
    // The remote closed the stream while the protocol was chosen: libp2p rejects with the
    // close event itself, which has no message (seen as "could not reach …: undefined").
    const closed = dialFailure(remote, new Event('close'))
    expect(closed.code).toBe('PEER_REFUSED')
    expect(closed.message).toContain('closed the connection during the handshake')
    expect(
      dialFailure(remote, Object.assign(new Error('x'), { name: 'UnexpectedEOFError' })).code,
    ).toBe('PEER_REFUSED')
    const odd = dialFailure(remote, 'no route')
    expect(odd.code).toBe('PEER_UNREACHABLE')
    expect(odd.message).toBe(`could not reach ${remote}: no route`)
    expect(dialFailure(remote, new Error('connect ECONNREFUSED')).message).not.toContain(
      'undefined',
    )
  })
})
